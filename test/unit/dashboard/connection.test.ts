import { describe, expect, it } from 'vitest';
import {
  agoText,
  backendStates,
  backoffDelay,
  BLANK,
  clockDateTime,
  clockTime,
  createBackoff,
  describeLostLink,
  liveText,
  mergeNewestFirst,
  pipelineIsFresh,
  RECONNECT_BACKOFF,
  reloadSince,
} from '../../../dashboard/web/connection.js';

describe('reconnect backoff', () => {
  it('starts at 0.5 s and doubles up to 5 s without jitter (random draw 0)', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20, 2000].map((attempt) => backoffDelay(attempt, 0))).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000]);
  });

  it('takes at most half of each wait off at random, and never waits longer than the cap', () => {
    for (const attempt of [0, 1, 2, 3, 4, 10]) {
      const base = Math.min(5000, 500 * 2 ** attempt);
      for (const random of [0, 0.25, 0.5, 0.999, 1, -1, 2]) {
        const delay = backoffDelay(attempt, random);
        expect(delay).toBeGreaterThanOrEqual(base / 2);
        expect(delay).toBeLessThanOrEqual(base);
        expect(delay).toBeLessThanOrEqual(RECONNECT_BACKOFF.maxMs);
      }
    }
    expect(backoffDelay(0, 0.5)).toBe(375);
    expect(backoffDelay(9, 0.9)).toBe(2750);
  });

  it('counts attempts, and starts over after reset', () => {
    const backoff = createBackoff(RECONNECT_BACKOFF, () => 0);
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect(backoff.attempts).toBe(6);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(500);
  });

  it('reaches a server back after a typical restart within the cap: attempts keep coming every ≤ 5 s', () => {
    const backoff = createBackoff(RECONNECT_BACKOFF, () => 0);
    let at = 0;
    const attempts: number[] = [];
    while (at < 30_000) attempts.push((at += backoff.next()));
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5000);
    expect(attempts.slice(0, 4)).toEqual([500, 1500, 3500, 7500]);
  });
});

describe('the lost-connection banner', () => {
  const lastData = new Date(2025, 0, 2, 14, 3, 7).getTime();

  it('says when the data is from, how long ago, and when the next attempt is', () => {
    expect(describeLostLink({ lastDataAt: lastData, nextAttemptAt: lastData + 12_500, now: lastData + 10_000 })).toEqual({
      headline: 'Connection lost — data as of 14:03:07',
      age: '(10 s ago)',
      retry: 'retrying in 3 s',
    });
  });

  it('says "reconnecting…" while an attempt is under way, and when there never was data', () => {
    expect(describeLostLink({ lastDataAt: undefined, nextAttemptAt: undefined, now: lastData })).toEqual({
      headline: 'Connection lost — no data received yet',
      age: '',
      retry: 'reconnecting…',
    });
    expect(describeLostLink({ lastDataAt: lastData, nextAttemptAt: lastData - 1, now: lastData }).retry).toBe('reconnecting…');
  });

  it('formats times of day and ages for reading at a glance', () => {
    expect(clockTime(new Date(2025, 5, 1, 9, 5, 3).getTime())).toBe('09:05:03');
    expect(clockDateTime(new Date(2025, 11, 31, 23, 59, 59).getTime())).toBe('2025-12-31 23:59:59');
    expect(clockDateTime(new Date(2026, 0, 1, 0, 0, 0).getTime())).toBe('2026-01-01 00:00:00');
    expect([0, 999, 59_999, 60_000, 3_599_999, 3_600_000, 3_900_000, -5].map(agoText)).toEqual(['0 s', '0 s', '59 s', '1 min', '59 min', '1 h', '1 h 5 min', '0 s']);
  });
});

describe('what the views show while the link is down', () => {
  it('counts pipeline numbers as current only after an answered poll with the link not lost', () => {
    expect(pipelineIsFresh('live', 'ok')).toBe(true);
    expect(pipelineIsFresh('connecting', 'ok')).toBe(true);
    expect(pipelineIsFresh('lost', 'ok')).toBe(false);
    expect(pipelineIsFresh('live', 'failed')).toBe(false);
    expect(pipelineIsFresh('live', 'none')).toBe(false);
  });

  it('shows backends as unknown, never "reachable", when the numbers are not current', () => {
    const backends = { kafka: true, store: false };
    expect(backendStates(backends, true)).toEqual([
      { name: 'kafka', state: 'reachable' },
      { name: 'store', state: 'unreachable' },
    ]);
    expect(backendStates(backends, false)).toEqual([
      { name: 'kafka', state: 'unknown' },
      { name: 'store', state: 'unknown' },
    ]);
    expect(backendStates(undefined, false)).toEqual([]);
  });

  it('blanks rates instead of showing stale numbers', () => {
    expect(liveText('3.0', true)).toBe('3.0');
    expect(liveText('3.0', false)).toBe(BLANK);
    expect(BLANK).toBe('—');
  });
});

describe('reloading after a reconnect', () => {
  const now = 1_700_000_000_000;
  const window = 15 * 60_000;

  it('fetches the whole window the first time, then from a minute before the newest reading it has', () => {
    expect(reloadSince(now, window, undefined, 60_000)).toBe(now - window);
    expect(reloadSince(now, window, Number.NEGATIVE_INFINITY, 60_000)).toBe(now - window);
    expect(reloadSince(now, window, now - 10_000, 60_000)).toBe(now - 70_000);
    expect(reloadSince(now, window, now - window - 5000, 60_000)).toBe(now - window);
  });

  it('merges fetched events into the list once each, newest first, bounded', () => {
    type E = { ts: number; type: string };
    const list: E[] = [
      { ts: 50, type: 'online' },
      { ts: 30, type: 'offline' },
    ];
    const same = list;
    mergeNewestFirst(list, [{ ts: 60, type: 'offline' }, { ts: 50, type: 'online' }, { ts: 10, type: 'online' }], 3, (e) => e.ts, (e) => `${e.ts}|${e.type}`);
    expect(list).toBe(same);
    expect(list).toEqual([
      { ts: 60, type: 'offline' },
      { ts: 50, type: 'online' },
      { ts: 30, type: 'offline' },
    ]);
  });
});
