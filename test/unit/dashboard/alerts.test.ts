import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../core/alerts.js';
import { acknowledgement, compareAlerts, createAlertBook } from '../../../dashboard/alerts.js';
import { raisedAlert } from '../../support/alerts.js';

let counter = 0;
function raised(overrides: Partial<AlertTransition> = {}): AlertTransition {
  const n = counter++;
  const raisedAt = overrides.raisedAt ?? 1_000 + n;
  return raisedAlert(`alert-${n}`, { raisedAt, ts: raisedAt, ...overrides });
}

const next = (alert: AlertTransition, changes: Partial<AlertTransition>): AlertTransition => ({ ...alert, seq: alert.seq + 1, transition: 'updated', ...changes });
const cleared = (alert: AlertTransition, ts: number): AlertTransition => next(alert, { transition: 'cleared', state: 'cleared', ts, clearReason: 'condition' });

describe('alert book: dedupe by (alertId, seq)', () => {
  it('takes each transition once and ignores a seq already seen or older', () => {
    const book = createAlertBook();
    const first = raised();
    const update = next(first, { value: 30, ts: first.ts + 10 });
    expect(book.add(first)).toBe(true);
    expect(book.add(first)).toBe(false);
    expect(book.add(update)).toBe(true);
    // The raise again (a replay from the earliest offset) and a duplicate of the update change nothing.
    expect(book.add(first)).toBe(false);
    expect(book.add({ ...update, value: 99 })).toBe(false);
    expect(book.get(first.alertId)).toEqual(update);
    expect(book.transitionCounts()).toEqual({ info: 0, warning: 2, critical: 0 });
  });

  it('tells listeners of the transitions it takes, not of duplicates', () => {
    const book = createAlertBook();
    const heard: number[] = [];
    const stop = book.onTransition((t) => heard.push(t.seq));
    const first = raised();
    book.add(first);
    book.add(first);
    book.add(next(first, {}));
    stop();
    book.add(next(next(first, {}), {}));
    expect(heard).toEqual([1, 2]);
  });

  it('does not bring back a cleared alert it let go of when an old transition of it comes again', () => {
    const book = createAlertBook({ maxCleared: 1 });
    const a = raised({ deviceId: 'dev-a' });
    const b = raised({ deviceId: 'dev-b' });
    book.add(a);
    book.add(cleared(a, a.ts + 5));
    book.add(b);
    book.add(cleared(b, b.ts + 5));
    expect(book.get(a.alertId)).toBeUndefined();
    expect(book.add(a)).toBe(false);
    expect(book.list({ state: 'all' }).map((x) => x.alertId)).toEqual([b.alertId]);
  });
});

describe('alert book: an acknowledgement racing the rules stage (two writers number one alert)', () => {
  // The dashboard writes `acknowledged` with seq + 1 at once; the rules stage, not having read it yet, writes its
  // own next transition with the same seq. Whatever order the two reach a reader in, it ends in the same place.
  const ack = (alert: AlertTransition, at: number) => acknowledgement(alert, 'op', at);

  it('clears an acknowledged alert when the clear carries the acknowledgement\'s seq, in either order', () => {
    const first = raised();
    const acked = ack(first, first.ts + 10);
    const clear = cleared(first, first.ts + 20);
    expect(clear.seq).toBe(acked.seq);
    for (const order of [[acked, clear], [clear, acked]]) {
      const book = createAlertBook();
      book.add(first);
      for (const transition of order) book.add(transition);
      expect(book.get(first.alertId)).toMatchObject({ state: 'cleared', transition: 'cleared', seq: clear.seq, clearReason: 'condition' });
      expect(book.counts().open).toBe(0);
    }
  });

  it('keeps who acknowledged on a clear that the rules stage wrote before it read the acknowledgement', () => {
    const book = createAlertBook();
    const first = raised();
    book.add(first);
    book.add(ack(first, 1_500));
    book.add(cleared(first, 2_000));
    expect(book.get(first.alertId)).toMatchObject({ state: 'cleared', ackBy: 'op', ackAt: 1_500 });
  });

  it('merges an update and an acknowledgement of the same seq: the new value, still acknowledged, in either order', () => {
    const first = raised();
    const acked = ack(first, first.ts + 10);
    const update = next(first, { value: 31, ts: first.ts + 20 });
    for (const order of [[acked, update], [update, acked]]) {
      const book = createAlertBook();
      book.add(first);
      for (const transition of order) expect(book.add(transition)).toBe(true);
      expect(book.get(first.alertId)).toMatchObject({ state: 'open', transition: 'updated', value: 31, seq: 2, ackBy: 'op' });
      expect(book.counts().unacknowledged).toBe(0);
      // Both read back again (the stream redelivers): nothing changes.
      expect(book.add(acked)).toBe(false);
      expect(book.add(update)).toBe(false);
    }
  });

  it('keeps the acknowledgement on later updates that do not carry it yet', () => {
    const book = createAlertBook();
    const first = raised();
    book.add(first);
    const acked = ack(first, 1_500);
    book.add(acked);
    // The rules stage is still behind: seq 2 and 3 without ackBy.
    const update = next(first, { value: 30 });
    book.add(update);
    book.add(next(update, { value: 33 }));
    expect(book.get(first.alertId)).toMatchObject({ seq: 3, value: 33, ackBy: 'op', ackAt: 1_500 });
  });

  it('never reopens a cleared alert, whatever seq comes after the clear', () => {
    const book = createAlertBook();
    const first = raised();
    book.add(first);
    book.add(cleared(first, 2_000));
    expect(book.add(ack(first, 2_100))).toBe(false);
    expect(book.add(next(first, { seq: 7 }))).toBe(false);
    expect(book.get(first.alertId)?.state).toBe('cleared');
  });
});

describe('alert book: order and queries', () => {
  it('lists open alerts first, worst severity first, then the newest raise; cleared ones by their clear, newest first', () => {
    const book = createAlertBook();
    const oldCritical = raised({ severity: 'critical', raisedAt: 100 });
    const newWarning = raised({ severity: 'warning', raisedAt: 500 });
    const oldWarning = raised({ severity: 'warning', raisedAt: 200 });
    const info = raised({ severity: 'info', raisedAt: 900 });
    const goneEarly = raised({ severity: 'critical', raisedAt: 50 });
    const goneLate = raised({ severity: 'info', raisedAt: 60 });
    for (const alert of [info, oldWarning, goneEarly, newWarning, oldCritical, goneLate]) book.add(alert);
    book.add(cleared(goneEarly, 300));
    book.add(cleared(goneLate, 400));

    expect(book.list().map((a) => a.alertId)).toEqual([oldCritical, newWarning, oldWarning, info].map((a) => a.alertId));
    expect(book.list({ state: 'all' }).map((a) => a.alertId)).toEqual([oldCritical, newWarning, oldWarning, info, goneLate, goneEarly].map((a) => a.alertId));
    expect([...book.list({ state: 'all' })].sort(compareAlerts)).toEqual(book.list({ state: 'all' }));
  });

  it('filters by device, and `since` keeps every open alert and the ones cleared at or after it', () => {
    const book = createAlertBook();
    const mine = raised({ deviceId: 'd1', raisedAt: 10 });
    const other = raised({ deviceId: 'd2', raisedAt: 20 });
    const clearedEarly = raised({ deviceId: 'd1', raisedAt: 30 });
    const clearedLate = raised({ deviceId: 'd1', raisedAt: 40 });
    for (const alert of [mine, other, clearedEarly, clearedLate]) book.add(alert);
    book.add(cleared(clearedEarly, 100));
    book.add(cleared(clearedLate, 200));

    expect(book.list({ device: 'd1' }).map((a) => a.alertId)).toEqual([mine.alertId]);
    expect(book.list({ state: 'all', device: 'd1' }).map((a) => a.alertId)).toEqual([mine.alertId, clearedLate.alertId, clearedEarly.alertId]);
    expect(book.list({ state: 'all', device: 'd1', since: 150 }).map((a) => a.alertId)).toEqual([mine.alertId, clearedLate.alertId]);
    expect(book.list({ state: 'all', since: 1_000 }).map((a) => a.alertId)).toEqual([other.alertId, mine.alertId]);
    expect(book.list({ device: 'nobody' })).toEqual([]);
  });

  it('counts open alerts by severity, the unacknowledged ones and the worst', () => {
    const book = createAlertBook();
    expect(book.counts()).toEqual({ open: 0, unacknowledged: 0, bySeverity: { info: 0, warning: 0, critical: 0 } });
    const critical = raised({ severity: 'critical' });
    const warning = raised({ severity: 'warning' });
    const gone = raised({ severity: 'critical' });
    for (const alert of [critical, warning, gone]) book.add(alert);
    book.add(cleared(gone, gone.ts + 1));
    book.add(acknowledgement(critical, 'ops', 5_000));
    expect(book.counts()).toEqual({ open: 2, unacknowledged: 1, bySeverity: { info: 0, warning: 1, critical: 1 }, worst: 'critical' });
  });
});

describe('alert book: bounds', () => {
  it('keeps every open alert however many, and at most maxCleared cleared ones, the oldest clears going first', () => {
    const book = createAlertBook({ maxCleared: 3, maxRemembered: 10 });
    const open = Array.from({ length: 50 }, (_, i) => raised({ deviceId: `open-${i}` }));
    for (const alert of open) book.add(alert);
    const gone = Array.from({ length: 6 }, (_, i) => raised({ deviceId: `gone-${i}` }));
    for (const [i, alert] of gone.entries()) {
      book.add(alert);
      book.add(cleared(alert, 10_000 + i));
    }
    expect(book.list()).toHaveLength(50);
    const history = book.list({ state: 'all' }).filter((a) => a.state === 'cleared');
    expect(history.map((a) => a.deviceId)).toEqual(['gone-5', 'gone-4', 'gone-3']);
  });
});

describe('alert book: sync with a server snapshot', () => {
  it('takes the snapshot as the whole open set: newer transitions in, alerts it does not hold out', () => {
    const book = createAlertBook();
    const stays = raised();
    const endedMeanwhile = raised();
    book.add(stays);
    book.add(endedMeanwhile);
    const acked = acknowledgement(stays, 'ops', 9_000);
    const appeared = raised({ deviceId: 'dev-new' });
    book.sync([acked, appeared]);
    expect(book.list().map((a) => a.alertId).sort()).toEqual([stays.alertId, appeared.alertId].sort());
    expect(book.get(stays.alertId)?.ackBy).toBe('ops');
    expect(book.get(endedMeanwhile.alertId)).toBeUndefined();
    // A stale push of the dropped alert does not bring it back.
    expect(book.add(endedMeanwhile)).toBe(false);
  });
});

describe('acknowledgement', () => {
  it('is the alert with the next seq, still open, who and when, without the measured window', () => {
    const alert = next(raised({ window: { from: 1, to: 2 } }), { ts: 2_000 });
    const ack = acknowledgement(alert, 'alice', 7_000);
    expect(ack).toEqual({ ...alert, window: undefined, transition: 'acknowledged', state: 'open', seq: alert.seq + 1, ackBy: 'alice', ackAt: 7_000, ts: 7_000 });
    expect('window' in ack).toBe(false);
  });
});
