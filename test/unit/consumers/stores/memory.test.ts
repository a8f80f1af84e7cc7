import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../../../consumers/stores/memory.js';
import type { Reading } from '../../../../core/reading.js';

const at = (timeNs: string, value: number): Reading => ({ deviceId: 'd1', metric: 'm', value, ts: Number(BigInt(timeNs) / 1_000_000n), timeNs, receivedAt: Date.now() });

describe('memory store key (device, metric, timeNs)', () => {
  it('keeps readings of one millisecond apart when their precise times differ, in time order', async () => {
    const store = createMemoryStore({ maxReadings: 100 });
    const ms = BigInt(Date.now()) * 1_000_000n;
    await store.write([at(String(ms + 2n), 2), at(String(ms), 0), at(String(ms + 1n), 1)]);
    expect(store.query({ deviceId: 'd1', metric: 'm' }).map((r) => r.value)).toStrictEqual([0, 1, 2]);
  });

  it('writing a reading again keeps one point (the last write wins)', async () => {
    const store = createMemoryStore({ maxReadings: 100 });
    const ns = String(BigInt(Date.now()) * 1_000_000n + 5n);
    await store.write([at(ns, 1)]);
    await store.write([at(ns, 1), at(ns, 9)]);
    expect(store.query({ deviceId: 'd1', metric: 'm' }).map((r) => r.value)).toStrictEqual([9]);
    expect(store.size()).toBe(1);
  });
});
