import { describe, expect, it } from 'vitest';
import { createPreciseClock, msOfNs } from '../../../core/precise-clock.js';

function fakeSources(wallMs: number, monoNs = 0n) {
  const state = { wallMs, monoNs };
  return { state, sources: { wallMs: () => state.wallMs, monotonicNs: () => state.monoNs } };
}

describe('precise clock', () => {
  it('stamps with sub-millisecond precision from the monotonic counter anchored to the wall clock', () => {
    const { state, sources } = fakeSources(1_700_000_000_000, 10n);
    const clock = createPreciseClock(sources);
    state.monoNs = 10n + 123_456n;
    expect(clock.next(1)).toBe(1_700_000_000_000_123_456n);
  });

  it('never gives two publishes in the same nanosecond overlapping ranges: the next stamp is past the reserve', () => {
    const { sources } = fakeSources(1_700_000_000_000);
    const clock = createPreciseClock(sources);
    const first = clock.next(1_000);
    const second = clock.next(1_000);
    const third = clock.next(1);
    expect(second - first).toBe(1_000n);
    expect(third - second).toBe(1_000n);
  });

  it('follows the wall clock once it is past the reserved range', () => {
    const { state, sources } = fakeSources(1_700_000_000_000);
    const clock = createPreciseClock(sources);
    clock.next(1_000);
    state.monoNs = 2_000_000n;
    state.wallMs += 2;
    expect(clock.next(1_000)).toBe(1_700_000_000_002_000_000n);
  });

  it('stays increasing when the wall clock steps backwards, and re-anchors to it', () => {
    const { state, sources } = fakeSources(1_700_000_000_000);
    const clock = createPreciseClock(sources);
    const before = clock.next(1_000);
    state.wallMs -= 60_000;
    const after = clock.next(1_000);
    expect(after).toBe(before + 1_000n);
  });

  it('re-anchors when the wall clock jumps ahead of the monotonic counter', () => {
    const { state, sources } = fakeSources(1_700_000_000_000);
    const clock = createPreciseClock(sources);
    clock.next(1);
    state.wallMs += 60_000;
    expect(clock.next(1)).toBe(1_700_000_060_000_000_000n);
  });

  it('gives the millisecond of a stamp by flooring', () => {
    expect(msOfNs(1_700_000_000_000_999_999n)).toBe(1_700_000_000_000);
  });
});
