import { describe, expect, it } from 'vitest';
import { createAuthThrottle } from '../../../gateway/auth-throttle.js';

describe('createAuthThrottle', () => {
  const make = (now: () => number, maxAddresses = 100) =>
    createAuthThrottle({ freeFailures: 3, baseDelayMs: 250, maxDelayMs: 10_000, forgetAfterMs: 60_000, maxAddresses, now });

  it('answers the first failures at full speed, then doubles the delay up to the ceiling', () => {
    const throttle = make(() => 0);
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      delays.push(throttle.delayFor('10.0.0.1'));
      throttle.failed('10.0.0.1');
    }
    expect(delays).toEqual([0, 0, 0, 250, 500, 1000, 2000, 4000, 8000, 10_000]);
    expect(throttle.delayFor('10.0.0.2')).toBe(0);
  });

  it('forgets an address after a success or after a quiet period', () => {
    let now = 0;
    const throttle = make(() => now);
    for (let i = 0; i < 5; i++) throttle.failed('a');
    expect(throttle.delayFor('a')).toBe(1000);
    throttle.succeeded('a');
    expect(throttle.delayFor('a')).toBe(0);
    for (let i = 0; i < 5; i++) throttle.failed('b');
    now = 60_001;
    expect(throttle.delayFor('b')).toBe(0);
  });

  it('remembers a bounded number of addresses, dropping the least recently failed', () => {
    const throttle = make(() => 0, 3);
    for (const address of ['a', 'b', 'c', 'd']) for (let i = 0; i < 4; i++) throttle.failed(address);
    expect(throttle.size()).toBe(3);
    expect(throttle.delayFor('a')).toBe(0);
    expect(throttle.delayFor('d')).toBe(500);
  });
});
