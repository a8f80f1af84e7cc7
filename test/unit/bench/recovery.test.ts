import { describe, expect, it } from 'vitest';
import { addSeries, computeRecovery, medianStaleness, rebucket, storeCaughtUpS } from '../../../bench/recovery.js';

/** 100 ms buckets at `perSec` for `seconds`. */
const steady = (perSec: number, seconds: number): number[] => new Array<number>(seconds * 10).fill(perSec / 10);
const series = (...parts: number[][]): number[] => parts.flat();

describe('recovery from a per-bucket acked series', () => {
  it('reports no dip and zero recovery when ingest never left the offered rate', () => {
    const acked = steady(1000, 60);
    expect(computeRecovery({ acked, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 20_000, liftedAtMs: 40_000 })).toEqual({
      dipStartS: null,
      backAtS: null,
      dipS: null,
      minPerSec: 1000,
      minPct: 100,
      recoveryS: 0,
    });
  });

  it('measures an outage: nothing acked from 20 s to 30 s, back at rate at 32 s, fault lifted at 30 s', () => {
    const acked = series(steady(1000, 20), steady(0, 10), steady(500, 2), steady(1000, 28));
    const result = computeRecovery({ acked, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 20_000, liftedAtMs: 30_000 });
    // The window (19.1, 20.1] already misses a bucket: 900/s < 950/s.
    expect(result.dipStartS).toBe(20.1);
    // The first window at ≥ 950/s ends at 32.9 s: 1 bucket at 50 and 9 at 100 (950).
    expect(result.backAtS).toBe(32.9);
    expect(result.dipS).toBe(12.8);
    expect(result.minPerSec).toBe(0);
    expect(result.minPct).toBe(0);
    expect(result.recoveryS).toBe(2.9);
  });

  it('counts a backlog burst above the offered rate as back at rate', () => {
    const acked = series(steady(1000, 20), steady(0, 10), steady(3000, 3), steady(1000, 27));
    const result = computeRecovery({ acked, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 20_000, liftedAtMs: 30_000 });
    expect(result.recoveryS).toBe(0.4);
  });

  it('reports the dip of a fault that should not stop ingest (one broker lost): 40 % for 2 s while the fault lasts on', () => {
    const acked = series(steady(1000, 20), steady(400, 2), steady(1000, 38));
    const result = computeRecovery({ acked, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 20_000, liftedAtMs: 40_000 });
    expect(result.dipStartS).toBe(20.1);
    // Every bucket of the window must be back: 9 at 100 and one at 40 make 940/s.
    expect(result.backAtS).toBe(23);
    expect(result.dipS).toBe(2.9);
    expect(result.minPerSec).toBe(400);
    expect(result.minPct).toBe(40);
    // Ingest was long back when the broker returned.
    expect(result.recoveryS).toBe(0);
  });

  it('does not count a single good second as back: the rate must hold for 3 s', () => {
    const acked = series(steady(1000, 20), steady(0, 5), steady(1000, 1), steady(0, 4), steady(1000, 30));
    const result = computeRecovery({ acked, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 20_000, liftedAtMs: 25_000 });
    expect(result.backAtS).toBe(31);
    expect(result.recoveryS).toBe(6);
  });

  it('does not let one noisy second in a steady stream postpone "back"', () => {
    const acked = series(steady(1000, 20), steady(0, 10), steady(1000, 2), steady(900, 1), steady(1000, 27));
    const result = computeRecovery({ acked, offered: steady(1000, 60), bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 20_000, liftedAtMs: 30_000 });
    expect(result).toMatchObject({ backAtS: 31, recoveryS: 1 });
  });

  it('reports null when ingest is not back before the load ends, and ignores what came after it', () => {
    const acked = series(steady(1000, 20), steady(0, 9), steady(1000, 30));
    const result = computeRecovery({ acked, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 30_000, appliedAtMs: 20_000, liftedAtMs: 25_000 });
    expect(result).toMatchObject({ dipStartS: 20.1, backAtS: null, dipS: null, recoveryS: null, minPerSec: 0 });
  });

  it('measures against what was offered: a load generator starved of CPU is not a dip of the pipeline', () => {
    // The generator fell behind for 2 s (offered 300/s) and caught up (1,700/s); the acks followed it.
    const offered = series(steady(1000, 20), steady(300, 2), steady(1700, 2), steady(1000, 36));
    const acked = offered;
    const withOffered = computeRecovery({ acked, offered, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 19_000, liftedAtMs: 19_000 });
    expect(withOffered).toMatchObject({ dipStartS: null, recoveryS: 0 });
    // Against the nominal rate the same series is a 2 s dip.
    expect(computeRecovery({ acked, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 19_000, liftedAtMs: 19_000 }).dipStartS).toBe(20.1);
  });

  it('still sees an outage when the devices keep offering (queueing what falls due)', () => {
    const offered = steady(1000, 60);
    const acked = series(steady(1000, 20), steady(0, 10), steady(2000, 5), steady(1000, 25));
    expect(computeRecovery({ acked, offered, bucketMs: 100, offeredPerSec: 1000, loadEndMs: 60_000, appliedAtMs: 20_000, liftedAtMs: 30_000 })).toMatchObject({
      dipStartS: 20.1,
      minPerSec: 0,
      recoveryS: 0.5,
    });
  });

  it('reports null recovery for a fault that never ended', () => {
    expect(computeRecovery({ acked: steady(1000, 30), bucketMs: 100, offeredPerSec: 1000, loadEndMs: 30_000, appliedAtMs: 10_000, liftedAtMs: null }).recoveryS).toBeNull();
  });

  it('treats the first second of the load by what was offered in it', () => {
    const result = computeRecovery({ acked: steady(1000, 10), bucketMs: 100, offeredPerSec: 1000, loadEndMs: 10_000, appliedAtMs: 0, liftedAtMs: 0 });
    expect(result).toMatchObject({ dipStartS: null, recoveryS: 0 });
  });
});

describe('store catch-up after a fault', () => {
  const polls = [
    { atMs: 1000, stalenessMs: null },
    { atMs: 2000, stalenessMs: 900 },
    { atMs: 3000, stalenessMs: 1100 },
    { atMs: 4000, stalenessMs: 1000 },
    { atMs: 30_000, stalenessMs: 12_000 },
    { atMs: 31_000, stalenessMs: 5000 },
    { atMs: 32_500, stalenessMs: 1500 },
  ];

  it('finds the first poll after the fault at which the sampled devices are no more than the threshold behind', () => {
    expect(storeCaughtUpS(polls, 30_000, 2000)).toBe(2.5);
    expect(storeCaughtUpS(polls, 30_000, 500)).toBeNull();
    expect(storeCaughtUpS(polls, null, 2000)).toBeNull();
  });

  it('takes the steady state from the polls before the fault', () => {
    expect(medianStaleness(polls, 0, 10_000)).toBe(1000);
    expect(medianStaleness(polls, 0, 1500)).toBeNull();
  });
});

describe('series helpers', () => {
  it('adds workers\' series of different lengths and re-buckets them into seconds', () => {
    expect(addSeries([[1, 2, 3], [10], []])).toEqual([11, 2, 3]);
    expect(rebucket([1, 1, 1, 1, 1, 2, 2], 5)).toEqual([5, 4]);
  });
});
