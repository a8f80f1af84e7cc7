import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../core/reading.js';
import { createLiveAggregator, createRateCounter, summarizeDeadLetter } from '../../../dashboard/aggregate.js';
import { timeNsOfMs } from '../../../core/reading.js';

const reading = (deviceId: string, metric: string, value: number, ts: number, receivedAt = ts): Reading => ({ deviceId, metric, value, ts, timeNs: timeNsOfMs(ts), receivedAt });

describe('createRateCounter', () => {
  it('reports events per second over the window, and zero once the window has passed', () => {
    const counter = createRateCounter(5000, 1000);
    for (let t = 0; t < 5000; t += 100) counter.add(1, t); // 10/s for 5 s
    expect(counter.rate(5000)).toBeCloseTo(10, 0);
    expect(counter.rate(12_000)).toBe(0);
  });

  it('does not overstate the rate of a counter younger than its window', () => {
    const counter = createRateCounter(5000, 1000);
    for (let t = 10_000; t < 12_000; t += 100) counter.add(1, t); // 10/s for 2 s
    expect(counter.rate(12_000)).toBeCloseTo(10, 0);
  });
});

describe('createLiveAggregator', () => {
  const make = (now: { t: number }, maxBatchPerDevice = 3) =>
    createLiveAggregator({ maxBatchPerDevice, maxDeadLettersPerDevice: 2, rateWindowMs: 5000, rateBucketMs: 1000, now: () => now.t });

  it('keeps the latest value per metric, by device time, and the newest receive time', () => {
    const now = { t: 1000 };
    const agg = make(now);
    agg.addReadings([reading('d1', 'temperature', 20, 100, 900), reading('d1', 'temperature', 19, 50, 950), reading('d1', 'humidity', 40, 100, 900)]);
    expect(agg.row('d1')).toMatchObject({ lastSeen: 950, latest: { temperature: { value: 20, ts: 100 }, humidity: { value: 40 } } });
  });

  it('bounds each device batch per tick and counts what it left out', () => {
    const now = { t: 1000 };
    const agg = make(now, 3);
    agg.addReadings(Array.from({ length: 10 }, (_, i) => reading('d1', 'temperature', i, 100 + i)));
    agg.addReadings([reading('d2', 'temperature', 1, 100)]);
    const batches = agg.takeBatches();
    expect(batches).toEqual([
      { deviceId: 'd1', readings: [expect.objectContaining({ value: 0 }), expect.objectContaining({ value: 1 }), expect.objectContaining({ value: 2 })], dropped: 7 },
      { deviceId: 'd2', readings: [expect.objectContaining({ value: 1, ts: 100, receivedAt: 100 })], dropped: 0 },
    ]);
    expect(agg.takeBatches()).toEqual([]);
  });

  it('counts readings of one message (same receive time) as one message', () => {
    const now = { t: 0 };
    const agg = make(now, 1000);
    for (let t = 0; t < 5000; t += 100) {
      now.t = t;
      agg.addReadings([reading('d1', 'temperature', 1, t, t), reading('d1', 'humidity', 2, t, t)]);
    }
    now.t = 5000;
    expect(agg.row('d1')).toMatchObject({ msgsPerSec: 10, readingsPerSec: 20 });
  });

  it('reports changed rows, then keeps re-sending a device until its rate has decayed to zero', () => {
    const now = { t: 0 };
    const agg = make(now);
    agg.addReadings([reading('d1', 'temperature', 1, 0)]);
    agg.setStatus({ deviceId: 'd2', type: 'online', ts: 0 });
    expect(agg.takeFleetChanges().map((r) => r.id).sort()).toEqual(['d1', 'd2']);
    now.t = 1000;
    expect(agg.takeFleetChanges().map((r) => r.id)).toEqual(['d1']); // rate still above zero
    now.t = 20_000;
    expect(agg.takeFleetChanges()).toEqual([expect.objectContaining({ id: 'd1', msgsPerSec: 0 })]);
    expect(agg.takeFleetChanges()).toEqual([]);
  });

  it('ignores a status older than the one it has', () => {
    const agg = make({ t: 0 });
    agg.setStatus({ deviceId: 'd1', type: 'offline', ts: 200 });
    agg.setStatus({ deviceId: 'd1', type: 'online', ts: 100 });
    expect(agg.row('d1')).toMatchObject({ status: 'offline', statusSince: 200 });
  });

  it('keeps a device online when the old gateway’s takeover offline comes after the new gateway’s online, and pushes no change for it', () => {
    const agg = make({ t: 0 });
    agg.setStatus({ deviceId: 'd1', type: 'online', ts: 1000, session: 'gw-a#1', connectedAt: 1000 });
    agg.setStatus({ deviceId: 'd1', type: 'online', ts: 5000, session: 'gw-b#1', connectedAt: 5000 });
    agg.takeFleetChanges();
    agg.setStatus({ deviceId: 'd1', type: 'offline', ts: 5003, session: 'gw-a#1', connectedAt: 1000 });
    expect(agg.row('d1')).toMatchObject({ status: 'online', statusSince: 5000, session: 'gw-b#1', connectedAt: 5000, lastSeen: 5000 });
    expect(agg.takeFleetChanges()).toEqual([]);
    agg.setStatus({ deviceId: 'd1', type: 'offline', ts: 9000, session: 'gw-b#1', connectedAt: 5000 });
    expect(agg.takeFleetChanges()).toEqual([expect.objectContaining({ id: 'd1', status: 'offline', statusSince: 9000, session: 'gw-b#1' })]);
  });

  it('seeds a status with its connection, so a takeover offline arriving after the seed is ordered against it', () => {
    const agg = make({ t: 0 });
    agg.seed([{ id: 'd1', status: 'online', statusSince: 5000, session: 'gw-b#1', connectedAt: 5000, lastSeen: 5000, latest: {} }]);
    agg.setStatus({ deviceId: 'd1', type: 'offline', ts: 5003, session: 'gw-a#1', connectedAt: 1000 });
    expect(agg.row('d1')).toMatchObject({ status: 'online', statusSince: 5000, session: 'gw-b#1', connectedAt: 5000 });
  });

  it('seeds rows from the fleet state without overwriting newer live data', () => {
    const agg = make({ t: 0 });
    agg.addReadings([reading('d1', 'temperature', 25, 500)]);
    agg.seed([
      { id: 'd1', status: 'online', statusSince: 10, lastSeen: 400, latest: { temperature: { value: 20, ts: 400 } } },
      { id: 'd2', status: 'offline', statusSince: 20, lastSeen: 20, latest: {} },
    ]);
    expect(agg.snapshot()).toEqual([
      expect.objectContaining({ id: 'd1', status: 'online', latest: { temperature: { value: 25, ts: 500 } } }),
      expect.objectContaining({ id: 'd2', status: 'offline' }),
    ]);
  });

  it('keeps dead letters without their payload, bounded per device and tick', () => {
    const agg = make({ t: 0 });
    for (let i = 0; i < 5; i++) agg.addDeadLetter({ deviceId: 'd1', code: 'INVALID_JSON', reason: 'bad', topic: 't', payload: Buffer.from('{"a":').toString('base64'), receivedAt: i });
    const [list] = agg.takeDeadLetters();
    expect(list).toHaveLength(2);
    expect(list![0]).toEqual({ deviceId: 'd1', code: 'INVALID_JSON', reason: 'bad', topic: 't', receivedAt: 0, bytes: 5 });
  });
});

describe('summarizeDeadLetter', () => {
  it('computes the payload size from base64 with padding', () => {
    for (const text of ['', 'a', 'ab', 'abc', 'abcd']) {
      expect(summarizeDeadLetter({ deviceId: 'd', code: 'X', reason: '', topic: '', payload: Buffer.from(text).toString('base64'), receivedAt: 0 }).bytes).toBe(text.length);
    }
  });
});
