import { describe, expect, it } from 'vitest';
import type { AlertTransition, RulesReport } from '../../../core/alerts.js';
import { createMetrics } from '../../../core/metrics.js';
import { createAlertBook, type AlertBook } from '../../../dashboard/alerts.js';
import { acknowledgedBy, buildHttpApi, type HttpApiDeps } from '../../../dashboard/http.js';
import type { AlertList } from '../../../dashboard/protocol.js';
import { raisedAlert } from '../../support/alerts.js';

const token = { check: (candidate: string | undefined) => candidate === 'good-token' };
const auth = { authorization: 'Bearer good-token' };

const alert = (id: string, overrides: Partial<AlertTransition> = {}): AlertTransition => raisedAlert(id, { value: 25.5, window: { from: 900, to: 1_000 }, ...overrides });

async function api(extra: Partial<HttpApiDeps> & { alerts: AlertBook }) {
  return buildHttpApi({ token, metrics: createMetrics(), devices: () => [], readings: () => [], ...extra });
}

describe('GET /api/alerts', () => {
  const book = createAlertBook();
  book.add(alert('open-warning', { raisedAt: 2_000, ts: 2_000 }));
  book.add(alert('open-critical', { severity: 'critical', deviceId: 'dev-2' }));
  book.add(alert('gone', { raisedAt: 500, ts: 500 }));
  book.add(alert('gone', { transition: 'cleared', state: 'cleared', seq: 2, ts: 3_000, clearReason: 'condition' }));

  it('needs the dashboard token', async () => {
    const app = await api({ alerts: book });
    expect((await app.inject('/api/alerts')).statusCode).toBe(401);
    await app.close();
  });

  it('answers the open alerts, worst first, with the counts of every open alert', async () => {
    const app = await api({ alerts: book });
    const response = await app.inject({ url: '/api/alerts', headers: auth });
    expect(response.statusCode).toBe(200);
    const body = response.json<AlertList>();
    expect(body.alerts.map((a) => a.alertId)).toEqual(['open-critical', 'open-warning']);
    expect(body.counts).toEqual({ open: 2, unacknowledged: 2, bySeverity: { info: 0, warning: 1, critical: 1 }, worst: 'critical' });
    await app.close();
  });

  it('answers history with state=all, narrowed by device and since', async () => {
    const app = await api({ alerts: book });
    const all = (await app.inject({ url: '/api/alerts?state=all', headers: auth })).json<AlertList>();
    expect(all.alerts.map((a) => [a.alertId, a.state])).toEqual([
      ['open-critical', 'open'],
      ['open-warning', 'open'],
      ['gone', 'cleared'],
    ]);
    expect(all.alerts[2]).toMatchObject({ clearReason: 'condition', ts: 3_000 });
    const device = (await app.inject({ url: '/api/alerts?state=all&device=dev-1&since=3001', headers: auth })).json<AlertList>();
    expect(device.alerts.map((a) => a.alertId)).toEqual(['open-warning']);
    expect(device.counts.open).toBe(2);
    await app.close();
  });

  it.each(['state=closed', 'since=yesterday', 'device=', 'since=-5'])('refuses a malformed query: %s', async (query) => {
    const app = await api({ alerts: book });
    const response = await app.inject({ url: `/api/alerts?${query}`, headers: auth });
    expect(response.statusCode).toBe(400);
    await app.close();
  });
});

describe('POST /api/alerts/:id/ack', () => {
  function setup(acknowledge: (t: AlertTransition) => Promise<void> = async () => undefined) {
    const book = createAlertBook();
    book.add(alert('a1'));
    book.add(alert('a1', { transition: 'updated', seq: 2, value: 26, ts: 1_500 }));
    book.add(alert('gone'));
    book.add(alert('gone', { transition: 'cleared', state: 'cleared', seq: 2, ts: 2_000, clearReason: 'condition' }));
    const written: AlertTransition[] = [];
    return {
      book,
      written,
      app: api({
        alerts: book,
        acknowledge: async (t) => {
          await acknowledge(t);
          written.push(t);
        },
      }),
    };
  }

  it('writes an acknowledged transition (next seq, still open, who and when) and answers 202 with it', async () => {
    const { book, written, app: appPromise } = setup();
    const app = await appPromise;
    const before = Date.now();
    const response = await app.inject({ method: 'POST', url: '/api/alerts/a1/ack', headers: auth });
    expect(response.statusCode).toBe(202);
    const transition = response.json<AlertTransition>();
    expect(transition).toMatchObject({ alertId: 'a1', ruleId: 'room-warm', deviceId: 'dev-1', severity: 'warning', transition: 'acknowledged', state: 'open', seq: 3, value: 26, raisedAt: 1_000, ackBy: 'dashboard@127.0.0.1' });
    expect(transition.ackAt).toBeGreaterThanOrEqual(before);
    expect(transition.ts).toBe(transition.ackAt);
    expect(written).toEqual([transition]);
    // The API reports it at once, before the record comes back through the live feed (then a duplicate).
    const listed = (await app.inject({ url: '/api/alerts', headers: auth })).json<AlertList>();
    expect(listed.alerts.find((a) => a.alertId === 'a1')).toMatchObject({ ackBy: 'dashboard@127.0.0.1', seq: 3 });
    expect(listed.counts.unacknowledged).toBe(0);
    expect(book.add(transition)).toBe(false);
    await app.close();
  });

  it('records the name given in the body', async () => {
    const { app: appPromise } = setup();
    const app = await appPromise;
    const response = await app.inject({ method: 'POST', url: '/api/alerts/a1/ack', headers: auth, payload: { by: '  alice ' } });
    expect(response.statusCode).toBe(202);
    expect(response.json<AlertTransition>().ackBy).toBe('alice');
    await app.close();
  });

  it('answers 409 with who when the alert is already acknowledged, and writes nothing more', async () => {
    const { written, app: appPromise } = setup();
    const app = await appPromise;
    await app.inject({ method: 'POST', url: '/api/alerts/a1/ack', headers: auth, payload: { by: 'alice' } });
    const again = await app.inject({ method: 'POST', url: '/api/alerts/a1/ack', headers: auth, payload: { by: 'bob' } });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: 'already-acknowledged', ackBy: 'alice' });
    expect(written).toHaveLength(1);
    await app.close();
  });

  it('lets only one of two acknowledgements sent at once through', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let writing = false;
    const { written, app: appPromise } = setup(() => {
      writing = true;
      return gate;
    });
    const app = await appPromise;
    const first = app.inject({ method: 'POST', url: '/api/alerts/a1/ack', headers: auth, payload: { by: 'alice' } });
    await expect.poll(() => writing).toBe(true);
    // The first is still on its way to the queue: the second is a conflict, not a second record.
    const second = await app.inject({ method: 'POST', url: '/api/alerts/a1/ack', headers: auth, payload: { by: 'bob' } });
    expect(second.statusCode).toBe(409);
    release();
    expect((await first).statusCode).toBe(202);
    expect(written.map((t) => t.ackBy)).toEqual(['alice']);
    await app.close();
  });

  it('answers 404 for an unknown or a cleared alert', async () => {
    const { written, app: appPromise } = setup();
    const app = await appPromise;
    for (const id of ['nope', 'gone']) {
      const response = await app.inject({ method: 'POST', url: `/api/alerts/${id}/ack`, headers: auth });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not-found' });
    }
    expect(written).toEqual([]);
    await app.close();
  });

  it('answers 503 when the alerts stream does not take it, and the alert stays unacknowledged', async () => {
    const { book, app: appPromise } = setup(async () => Promise.reject(new Error('queue closed')));
    const app = await appPromise;
    const response = await app.inject({ method: 'POST', url: '/api/alerts/a1/ack', headers: auth });
    expect(response.statusCode).toBe(503);
    expect(response.json<{ message: string }>().message).toContain('queue closed');
    expect(book.get('a1')?.ackBy).toBeUndefined();
    await app.close();
  });

  it('refuses a body whose "by" is not a short printable name, and needs the token', async () => {
    const { app: appPromise } = setup();
    const app = await appPromise;
    for (const payload of [{ by: 5 }, { by: '' }, { by: 'x'.repeat(129) }, { by: 'a\nb' }, [1]]) {
      expect((await app.inject({ method: 'POST', url: '/api/alerts/a1/ack', headers: auth, payload })).statusCode).toBe(400);
    }
    expect((await app.inject({ method: 'POST', url: '/api/alerts/a1/ack' })).statusCode).toBe(401);
    await app.close();
  });
});

describe('acknowledgedBy', () => {
  it('is the name given, else the dashboard at the client address', () => {
    expect(acknowledgedBy(undefined, '10.0.0.7')).toBe('dashboard@10.0.0.7');
    expect(acknowledgedBy({}, '10.0.0.7')).toBe('dashboard@10.0.0.7');
    expect(acknowledgedBy({ by: 'ops on call' }, '10.0.0.7')).toBe('ops on call');
    expect(acknowledgedBy('alice', '10.0.0.7')).toBeUndefined();
  });
});

describe('GET /api/rules', () => {
  it('answers 404 when the rules role does not run in this process', async () => {
    const app = await api({ alerts: createAlertBook() });
    const response = await app.inject({ url: '/api/rules', headers: auth });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'not-found', message: 'the rules role does not run in this process' });
    await app.close();
  });

  it('answers the rules report when it does', async () => {
    const report: RulesReport = {
      source: 'rules.yaml',
      loadedAt: 1_000,
      rules: [{ id: 'room-warm', description: 'Room above 24 °C', severity: 'warning', enabled: true, condition: 'temperature above 24', open: [] }],
    };
    const app = await api({ alerts: createAlertBook(), rules: () => report });
    expect((await app.inject({ url: '/api/rules', headers: auth })).json()).toEqual(report);
    expect((await app.inject('/api/rules')).statusCode).toBe(401);
    await app.close();
  });
});
