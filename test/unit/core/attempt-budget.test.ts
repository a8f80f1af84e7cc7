import { describe, expect, it } from 'vitest';
import { createAttemptBudget, createExpiringSet } from '../../../core/attempt-budget.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('attempt budget', () => {
  it('counts attempts when they start: parallel attempts over the budget are busy, not checked', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 3, refillMs: 1000, maxKeys: 100, now: time.now });
    for (let i = 0; i < 3; i++) {
      expect(budget.verdict(['a'])).toBe('open');
      budget.start(['a']);
    }
    expect(budget.verdict(['a'])).toBe('busy');
    expect(budget.verdict(['b'])).toBe('open');
    // Abandoned attempts (a dropped connection) give their place back at once.
    budget.finish(['a'], 'abandoned');
    expect(budget.verdict(['a'])).toBe('open');
  });

  it('is spent after `budget` failures, and busy while failures and attempts in flight fill it', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 3, refillMs: 1000, maxKeys: 100, now: time.now });
    for (let i = 0; i < 2; i++) {
      budget.start(['a']);
      budget.finish(['a'], 'failed');
    }
    expect(budget.failures('a')).toBe(2);
    expect(budget.verdict(['a'])).toBe('open');
    budget.start(['a']);
    expect(budget.verdict(['a'])).toBe('busy');
    budget.finish(['a'], 'failed');
    expect(budget.verdict(['a'])).toBe('spent');
    // A key list is as closed as its most closed key.
    expect(budget.verdict(['b', 'a'])).toBe('spent');
    expect(budget.verdict(['b'])).toBe('open');
  });

  it('forgives one failure every refillMs, and not before a whole one is forgiven', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 3, refillMs: 1000, maxKeys: 100, now: time.now });
    for (let i = 0; i < 3; i++) {
      budget.start(['a']);
      budget.finish(['a'], 'failed');
    }
    expect(budget.retryAfterMs(['a'])).toBe(1000);
    time.advance(999);
    expect(budget.verdict(['a'])).toBe('spent');
    expect(budget.retryAfterMs(['a'])).toBe(1);
    time.advance(1);
    expect(budget.verdict(['a'])).toBe('open');
    expect(budget.retryAfterMs(['a'])).toBe(0);
    // One attempt back, not the whole budget: the next failure spends it again.
    budget.start(['a']);
    budget.finish(['a'], 'failed');
    expect(budget.verdict(['a'])).toBe('spent');
    time.advance(3000);
    expect(budget.failures('a')).toBe(0);
    // A key with nothing left to remember is forgotten.
    expect(budget.size()).toBe(0);
  });

  it('a clock that steps back forgives nothing and adds nothing', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 3, refillMs: 1000, maxKeys: 100, now: time.now });
    budget.start(['a']);
    budget.finish(['a'], 'failed');
    time.advance(-5000);
    expect(budget.failures('a')).toBe(1);
    // Forgiveness resumes once the clock is past where it was.
    time.advance(5999);
    expect(budget.failures('a')).toBe(1);
    time.advance(1);
    expect(budget.failures('a')).toBe(0);
  });

  it('a success releases only its own attempt: the failures before it stay counted', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 3, refillMs: 1000, maxKeys: 100, now: time.now });
    for (let i = 0; i < 2; i++) {
      budget.start(['a']);
      budget.finish(['a'], 'failed');
    }
    budget.start(['a']);
    budget.finish(['a'], 'succeeded');
    expect(budget.failures('a')).toBe(2);
    budget.start(['a']);
    budget.finish(['a'], 'failed');
    expect(budget.verdict(['a'])).toBe('spent');
  });

  it('clear() forgets a key’s failures but not its attempts in flight', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 2, refillMs: 1000, maxKeys: 100, now: time.now });
    budget.start(['a']);
    budget.finish(['a'], 'failed');
    budget.start(['a']);
    budget.finish(['a'], 'failed');
    expect(budget.verdict(['a'])).toBe('spent');
    budget.clear('a');
    expect(budget.failures('a')).toBe(0);
    expect(budget.verdict(['a'])).toBe('open');
    expect(budget.size()).toBe(0);

    budget.start(['b']);
    budget.start(['b']);
    budget.clear('b');
    expect(budget.verdict(['b'])).toBe('busy');
    budget.clear('unknown');
    expect(budget.size()).toBe(1);
  });

  it('retryAfterMs is the wait for the most closed key, 0 for open or unknown keys', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 2, refillMs: 6000, maxKeys: 100, now: time.now });
    expect(budget.retryAfterMs(['nobody'])).toBe(0);
    for (let i = 0; i < 3; i++) {
      budget.start(['a', 'b']);
      budget.finish(['a', 'b'], 'failed');
    }
    budget.clear('b');
    // Three failures, budget two: two must be forgiven before `a` opens.
    expect(budget.retryAfterMs(['a'])).toBe(12_000);
    expect(budget.retryAfterMs(['b', 'a'])).toBe(12_000);
    expect(budget.retryAfterMs(['b'])).toBe(0);
    time.advance(4000);
    expect(budget.retryAfterMs(['a'])).toBe(8000);
  });

  it('remembers at most maxKeys keys, evicting the least recently used one', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 1, refillMs: 60_000, maxKeys: 3, now: time.now });
    for (const key of ['a', 'b', 'c']) {
      budget.start([key]);
      budget.finish([key], 'failed');
    }
    // Touching `a` makes `b` the oldest.
    budget.start(['a']);
    budget.finish(['a'], 'failed');
    budget.start(['d']);
    budget.finish(['d'], 'failed');
    expect(budget.size()).toBe(3);
    expect(budget.verdict(['b'])).toBe('open');
    for (const key of ['a', 'c', 'd']) expect(budget.verdict([key])).toBe('spent');
  });

  it('never evicts a key with attempts in flight, the one starting now included', () => {
    const time = clock();
    const budget = createAttemptBudget({ budget: 1, refillMs: 60_000, maxKeys: 2, now: time.now });
    budget.start(['a']);
    budget.start(['b']);
    // Both remembered keys hold an attempt: the new key may not evict them, nor be evicted itself.
    budget.start(['c']);
    expect(budget.size()).toBe(3);
    for (const key of ['a', 'b', 'c']) expect(budget.verdict([key])).toBe('busy');
    budget.finish(['c'], 'failed');
    expect(budget.verdict(['c'])).toBe('spent');
    // `a` ends well and is forgotten; a new key then evicts the oldest key without an attempt in flight: `c`.
    budget.finish(['a'], 'succeeded');
    expect(budget.size()).toBe(2);
    budget.start(['e']);
    expect(budget.size()).toBe(2);
    expect(budget.verdict(['b'])).toBe('busy');
    expect(budget.verdict(['e'])).toBe('busy');
    expect(budget.verdict(['c'])).toBe('open');
    budget.finish(['b'], 'failed');
    budget.finish(['e'], 'failed');
    expect(budget.verdict(['b', 'e'])).toBe('spent');
  });
});

describe('createExpiringSet', () => {
  it('remembers a key for its ttl after it was last added, and at most maxKeys keys', () => {
    let now = 0;
    const set = createExpiringSet({ ttlMs: 100, maxKeys: 2, now: () => now });
    set.add('a');
    now = 100;
    expect(set.has('a')).toBe(true);
    now = 101;
    expect(set.has('a')).toBe(false);
    set.add('b');
    set.add('c');
    set.add('d');
    expect([set.has('b'), set.has('c'), set.has('d')]).toEqual([false, true, true]);
    expect(set.delete('c')).toBe(true);
    expect(set.size).toBe(1);
  });
});
