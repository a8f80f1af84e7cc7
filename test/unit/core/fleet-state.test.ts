import { describe, expect, it } from 'vitest';
import { createFleetState, mergeByPoint } from '../../../core/fleet-state.js';
import type { Reading } from '../../../core/reading.js';
import { timeNsOfMs } from '../../../core/reading.js';

const reading = (deviceId: string, metric: string, ts: number, value: number): Reading => ({ deviceId, metric, ts, timeNs: timeNsOfMs(ts), value, receivedAt: ts });

describe('createFleetState', () => {
  it('returns readings per device and metric in time order, whatever the arrival order', () => {
    const fleet = createFleetState({ windowMs: Infinity, maxPerSeries: 100, maxReadings: 1000 });
    fleet.add([reading('d1', 't', 30, 3), reading('d1', 't', 10, 1), reading('d1', 't', 20, 2), reading('d1', 'h', 15, 9)]);
    expect(fleet.query({ deviceId: 'd1', metric: 't' }).map((r) => r.value)).toEqual([1, 2, 3]);
    expect(fleet.query({ deviceId: 'd1' }).map((r) => r.value)).toEqual([1, 9, 2, 3]);
    expect(fleet.query({ deviceId: 'd1', metric: 't', since: 20 }).map((r) => r.value)).toEqual([2, 3]);
  });

  it('keeps one point per series and timestamp, like InfluxDB (last write wins)', () => {
    const fleet = createFleetState({ windowMs: Infinity, maxPerSeries: 100, maxReadings: 1000 });
    fleet.add([reading('d1', 't', 10, 1)]);
    fleet.add([reading('d1', 't', 10, 1)]);
    fleet.add([reading('d1', 't', 10, 2)]);
    expect(fleet.query({ deviceId: 'd1' }).map((r) => r.value)).toEqual([2]);
    expect(fleet.size()).toBe(1);
  });

  it('bounds each series and the whole state', () => {
    const fleet = createFleetState({ windowMs: Infinity, maxPerSeries: 5, maxReadings: 20 });
    for (let i = 0; i < 50; i++) fleet.add([reading('d1', 't', i, i)]);
    expect(fleet.query({ deviceId: 'd1' }).map((r) => r.value)).toEqual([45, 46, 47, 48, 49]);
    for (let d = 0; d < 10; d++) for (let i = 0; i < 5; i++) fleet.add([reading(`x${d}`, 't', i, i)]);
    expect(fleet.size()).toBeLessThanOrEqual(20);
  });

  it('drops readings that fall out of the time window', () => {
    let now = 1000;
    const fleet = createFleetState({ windowMs: 100, maxPerSeries: 100, maxReadings: 1000, now: () => now });
    fleet.add([reading('d1', 't', 950, 1), reading('d1', 't', 990, 2)]);
    now = 1070;
    expect(fleet.query({ deviceId: 'd1' }).map((r) => r.value)).toEqual([2]);
  });

  it('summarises devices with status, last seen and latest value per metric', () => {
    const fleet = createFleetState({ windowMs: Infinity, maxPerSeries: 100, maxReadings: 1000 });
    fleet.add([{ ...reading('d1', 'temperature', 10, 21.5), unit: 'Cel' }, reading('d1', 'temperature', 20, 22)]);
    fleet.setStatus({ deviceId: 'd1', type: 'online', ts: 5 });
    fleet.setStatus({ deviceId: 'd1', type: 'offline', ts: 3 }); // older news does not override newer
    expect(fleet.devices()).toEqual([
      { id: 'd1', status: 'online', statusSince: 5, lastSeen: 20, latest: { temperature: { value: 22, ts: 20 } } },
    ]);
  });

  it('keeps a device online on its new gateway when the old gateway’s takeover offline comes after the new online', () => {
    const fleet = createFleetState({ windowMs: Infinity, maxPerSeries: 100, maxReadings: 1000 });
    fleet.setStatus({ deviceId: 'd1', type: 'online', ts: 1000, session: 'gw-a#1', connectedAt: 1000 });
    fleet.setStatus({ deviceId: 'd1', type: 'online', ts: 5000, session: 'gw-b#1', connectedAt: 5000 });
    fleet.setStatus({ deviceId: 'd1', type: 'offline', ts: 5003, session: 'gw-a#1', connectedAt: 1000 });
    expect(fleet.devices()).toEqual([{ id: 'd1', status: 'online', statusSince: 5000, session: 'gw-b#1', connectedAt: 5000, lastSeen: 5000, latest: {} }]);

    // The connection on B ends for real: offline.
    fleet.setStatus({ deviceId: 'd1', type: 'offline', ts: 9000, session: 'gw-b#1', connectedAt: 5000 });
    expect(fleet.devices()).toEqual([{ id: 'd1', status: 'offline', statusSince: 9000, session: 'gw-b#1', connectedAt: 5000, lastSeen: 9000, latest: {} }]);
  });
});

describe('mergeByPoint', () => {
  const r = (metric: string, ts: number, value: number): Reading => ({ deviceId: 'd', metric, value, ts, timeNs: timeNsOfMs(ts), receivedAt: ts });

  it('lists each point once in time order, the fresher source winning a point both hold', () => {
    const stored = [r('t', 1, 10), r('t', 2, 20), r('h', 2, 50)];
    const live = [r('t', 2, 21), r('t', 3, 30)];
    expect(mergeByPoint(stored, live).map((x) => `${x.metric}@${x.ts}=${x.value}`)).toEqual(['t@1=10', 't@2=21', 'h@2=50', 't@3=30']);
  });

  it('keeps the newest `limit` points', () => {
    expect(mergeByPoint([r('t', 1, 1), r('t', 2, 2)], [r('t', 3, 3)], 2).map((x) => x.ts)).toEqual([2, 3]);
  });
});

describe('points by precise time (timeNs)', () => {
  const ns = (ms: number, sub: number): Reading => ({ deviceId: 'd', metric: 't', value: sub, ts: ms, timeNs: (BigInt(ms) * 1_000_000n + BigInt(sub)).toString(), receivedAt: ms });

  it('mergeByPoint keeps readings of one millisecond apart and orders them by timeNs', () => {
    expect(mergeByPoint([ns(5, 2), ns(5, 0)], [ns(5, 1), ns(5, 2)]).map((x) => x.value)).toEqual([0, 1, 2]);
  });

  it('the live window keys a series by timeNs: a burst in one millisecond stays whole, a repeat stays one point', () => {
    const now = Date.now();
    const state = createFleetState({ windowMs: 60_000, maxPerSeries: 10_000, maxReadings: 10_000, now: () => now });
    state.add(Array.from({ length: 1000 }, (_, i) => ns(now, i)));
    state.add([ns(now, 999)]);
    expect(state.query({ deviceId: 'd', metric: 't' }).map((x) => x.value)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});
