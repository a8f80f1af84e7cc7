import { describe, expect, it } from 'vitest';
import { sampleExportStart } from '../../../bench/store.js';

describe('stored-latency sampler export window', () => {
  const runStart = 1_000_000;

  it('reads from the start of the run until every sampled device has a stored point', () => {
    expect(sampleExportStart(new Map(), ['a', 'b'], runStart)).toBe(runStart);
    expect(sampleExportStart(new Map([['a', 2_000_000]]), ['a', 'b'], runStart)).toBe(runStart);
  });

  it('then starts just before the oldest of the devices’ newest stored points, however far behind the store is', () => {
    // b's newest stored point is 5 minutes old: a fixed 60 s look-back would never see b's next points.
    const newest = new Map([
      ['a', 1_400_000],
      ['b', 1_100_000],
    ]);
    expect(sampleExportStart(newest, ['a', 'b'], runStart)).toBe(1_099_000);
    expect(sampleExportStart(newest, ['a', 'b'], runStart, 0)).toBe(1_100_000);
  });

  it('never starts before the run', () => {
    expect(sampleExportStart(new Map([['a', runStart + 10]]), ['a'], runStart)).toBe(runStart);
  });
});
