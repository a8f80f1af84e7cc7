import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../rules/duration.js';

describe('parseDuration', () => {
  it.each([
    [500, 500],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    [' 2m ', 120_000],
    ['250', 250],
    [0, 0],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([[''], ['5x'], ['m'], ['5 m'], ['-5s'], [-1], [Number.NaN], [Number.POSITIVE_INFINITY], ['1h30'], ['5M']])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [90_000, '1m30s'],
    [500, '500ms'],
    [3_600_000, '1h'],
    [86_401_000, '1d1s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
