import { describe, expect, it } from 'vitest';
import { backoffDelay, HALF_JITTER, type BackoffOptions } from '../../../core/retry.js';

const never = (): number => {
  throw new Error('random drawn without jitter');
};

describe('backoffDelay', () => {
  it.each<[string, BackoffOptions, number[], number[]]>([
    // name, options, attempts, delays (no jitter)
    ['doubles from initialMs', { initialMs: 100, maxMs: 100_000 }, [0, 1, 2, 3, 4], [100, 200, 400, 800, 1600]],
    ['stops growing at maxMs', { initialMs: 100, maxMs: 1000 }, [3, 4, 5, 20, 2000], [800, 1000, 1000, 1000, 1000]],
    ['the batch retries of the bridge', { initialMs: 100, maxMs: 1000 }, [0, 1, 2, 3, 4], [100, 200, 400, 800, 1000]],
    ['Kafka admin calls', { initialMs: 100, maxMs: 2000 }, [0, 4, 5, 6], [100, 1600, 2000, 2000]],
    ['another factor', { initialMs: 10, maxMs: 10_000, factor: 3 }, [0, 1, 2, 3], [10, 30, 90, 270]],
    ['a maxMs below initialMs wins', { initialMs: 500, maxMs: 200 }, [0, 1, 5], [200, 200, 200]],
    ['a negative attempt counts as the first', { initialMs: 100, maxMs: 1000 }, [-1, -5], [100, 100]],
    ['an initialMs of 0 stays 0, past any overflow', { initialMs: 0, maxMs: 1000 }, [0, 1, 2000], [0, 0, 0]],
    ['a long outage stays at maxMs, past any overflow', { initialMs: 100, maxMs: 1000 }, [1023, 1024, 100_000], [1000, 1000, 1000]],
    ['jitter 0 is none', { initialMs: 100, maxMs: 1000, jitter: 0 }, [0, 2], [100, 400]],
  ])('%s', (_name, options, attempts, delays) => {
    expect(attempts.map((attempt) => backoffDelay(attempt, options, never))).toEqual(delays);
  });

  it.each<[number, BackoffOptions, number, number]>([
    // attempt, options, random draw, delay
    [0, { initialMs: 100, maxMs: 1000, jitter: HALF_JITTER }, 0, 50],
    [0, { initialMs: 100, maxMs: 1000, jitter: HALF_JITTER }, 0.5, 75],
    [0, { initialMs: 100, maxMs: 1000, jitter: HALF_JITTER }, 0.999, 99.95],
    [3, { initialMs: 100, maxMs: 1000, jitter: HALF_JITTER }, 0.5, 600],
    [9, { initialMs: 100, maxMs: 1000, jitter: HALF_JITTER }, 0, 500],
    [1, { initialMs: 250, maxMs: 5000, jitter: 1 }, 0.25, 125],
    [1, { initialMs: 250, maxMs: 5000, jitter: 0.2 }, 0, 400],
  ])('attempt %i of %o with a draw of %d waits %d', (attempt, options, draw, delay) => {
    expect(backoffDelay(attempt, options, () => draw)).toBeCloseTo(delay, 9);
  });

  it('with half jitter waits half to all of each delay, never past maxMs', () => {
    const options = { initialMs: 250, maxMs: 15_000, jitter: HALF_JITTER };
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(15_000, 250 * 2 ** attempt);
      for (const draw of [0, 0.1, 0.5, 0.9, 0.999_999]) {
        const delay = backoffDelay(attempt, options, () => draw);
        expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
        expect(delay).toBeLessThan(ceiling);
        // The rule the sites wrote by hand, to the last bit.
        expect(delay).toBe(ceiling / 2 + draw * (ceiling / 2));
      }
    }
  });

  it('draws from Math.random when given nothing to draw from', () => {
    const delays = Array.from({ length: 200 }, () => backoffDelay(2, { initialMs: 100, maxMs: 1000, jitter: HALF_JITTER }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...delays)).toBeLessThan(400);
    expect(new Set(delays).size).toBeGreaterThan(1);
  });
});
