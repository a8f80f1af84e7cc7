import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { createMetrics, type Metrics } from '../../../core/metrics.js';
import { createDashboardAuth, dashboardAuthFailures } from '../../../dashboard/auth.js';
import { buildHttpApi } from '../../../dashboard/http.js';
import { buildOpsApi, opsRoutes } from '../../../cli/roles/ops.js';
import type { WebAssets } from '../../../dashboard/static.js';

const token = { check: (candidate: string | undefined) => candidate === 'good-token' };
const web: WebAssets = {
  root: '/nowhere',
  index: { body: Buffer.from('<!doctype html><title>app</title>'), contentType: 'text/html; charset=utf-8', etag: '"i"' },
  files: new Map(),
};
const form = (value: string): InjectOptions => ({
  method: 'POST',
  url: '/login',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: `token=${encodeURIComponent(value)}`,
});
const bearer = (url: string, value: string): InjectOptions => ({ url, headers: { authorization: `Bearer ${value}` } });
const from = (remoteAddress: string, options: InjectOptions): InjectOptions => ({ ...options, remoteAddress });

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

async function failuresBy(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await dashboardAuthFailures(metrics).get();
  return Object.fromEntries(values.map((v) => [String(v.labels.reason), v.value]));
}

describe('dashboard HTTP: wrong tokens throttled per address', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function build(budget = 3) {
    const time = clock();
    const metrics = createMetrics();
    const auth = createDashboardAuth({ token, metrics, budget, refillMs: 6000, now: time.now });
    app = await buildHttpApi({ token, auth, metrics, devices: () => [], readings: () => [], ops: opsRoutes({ metrics, readiness: [] }), web });
    return { app, time, metrics };
  }

  it('does not count requests without a token: a first visit, the login page, the API without credentials', async () => {
    const { app, metrics } = await build();
    for (let i = 0; i < 10; i++) {
      expect((await app.inject('/')).statusCode).toBe(303);
      expect((await app.inject('/login')).statusCode).toBe(200);
      expect((await app.inject('/api/devices')).statusCode).toBe(401);
      expect((await app.inject('/metrics')).statusCode).toBe(401);
      expect((await app.inject({ ...form(''), payload: 'token=' })).statusCode).toBe(401);
    }
    expect((await app.inject(bearer('/api/devices', 'good-token'))).statusCode).toBe(200);
    expect(await failuresBy(metrics)).toEqual({});
  });

  it('answers the API and /metrics with 429, Retry-After and a JSON reason once an address spent its budget, the right token included', async () => {
    const { app, time, metrics } = await build();
    for (let i = 0; i < 3; i++) expect((await app.inject(bearer('/api/devices', `guess-${i}`))).statusCode).toBe(401);

    for (const request of [bearer('/api/devices', 'good-token'), bearer('/metrics', 'good-token'), { url: '/api/pipeline', cookies: { sluice_session: 'good-token' } }]) {
      const refused = await app.inject(request);
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('6');
      expect(refused.json()).toEqual({ error: 'too-many-attempts', message: 'Too many wrong tokens from your address; try again in 6 s.' });
    }
    // Probes stay public; another address is not affected.
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    expect((await app.inject(from('10.0.0.2', bearer('/api/devices', 'good-token')))).statusCode).toBe(200);

    time.advance(2500);
    expect((await app.inject(bearer('/api/devices', 'good-token'))).headers['retry-after']).toBe('4');
    time.advance(3500);
    expect((await app.inject(bearer('/api/devices', 'good-token'))).statusCode).toBe(200);
    expect(await failuresBy(metrics)).toEqual({ 'bad-token': 3, throttled: 4 });
  });

  it('shows the login page with 429 and the wait, for the form, /?token= and a session cookie alike', async () => {
    const { app } = await build();
    // Wrong tokens over every channel count against the one address.
    expect((await app.inject(form('wrong'))).statusCode).toBe(401);
    expect((await app.inject('/?token=wrong')).statusCode).toBe(401);
    expect((await app.inject({ url: '/assets/main.js', cookies: { sluice_session: 'stale' } })).statusCode).toBe(401);

    for (const request of [form('good-token'), { url: '/?token=good-token' }, { url: '/', cookies: { sluice_session: 'good-token' } }, { url: '/login', cookies: { sluice_session: 'good-token' } }, { url: '/login' }]) {
      const page = await app.inject(request);
      expect(page.statusCode, JSON.stringify(request)).toBe(429);
      expect(page.headers['retry-after']).toBe('6');
      expect(page.headers['content-type']).toContain('text/html');
      expect(page.body).toContain('Too many wrong tokens from your address; try again in 6 s.');
      expect(page.headers['set-cookie']).toBeUndefined();
    }
    // A first visit is still sent to the login page, which says why it will not take a token yet.
    expect((await app.inject('/')).headers.location).toBe('/login');
  });

  it('clears a wrong session cookie, so a browser holding a stale one stops presenting it', async () => {
    const { app, metrics } = await build(5);
    for (const response of [
      await app.inject({ url: '/api/devices', cookies: { sluice_session: 'stale' } }),
      await app.inject({ url: '/', cookies: { sluice_session: 'stale' } }),
      await app.inject({ url: '/login', cookies: { sluice_session: 'stale' } }),
    ]) {
      expect(String(response.headers['set-cookie'])).toMatch(/^sluice_session=;.*Expires=Thu, 01 Jan 1970/);
    }
    // A wrong bearer token has no cookie to clear.
    expect((await app.inject(bearer('/api/devices', 'wrong'))).headers['set-cookie']).toBeUndefined();
    expect(await failuresBy(metrics)).toEqual({ 'bad-token': 4 });
  });

  it('throttles /metrics on the ops API of a process without the dashboard, 10 wrong tokens by default', async () => {
    app = await buildOpsApi({ token, metrics: createMetrics(), readiness: [] });
    for (let i = 0; i < 10; i++) expect((await app.inject(bearer('/metrics', 'wrong'))).statusCode).toBe(401);
    const refused = await app.inject(bearer('/metrics', 'good-token'));
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(5);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });
});
