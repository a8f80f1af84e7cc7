/**
 * The page's link to Sluice, as pure functions: when to try again after a disconnect, and what the views
 * show while the link is down. No DOM and no timers here (live.ts owns those), so the rules have a spec
 * beside them (test/unit/dashboard/connection.test.ts).
 */

/**
 * `connecting`: never connected yet (the page just loaded). `live`: connected, frames arrive.
 * `lost`: was connected, or the first attempt failed; retrying with backoff.
 */
export type LinkState = 'connecting' | 'live' | 'lost';

export interface BackoffOptions {
  /** Wait before the first attempt after a disconnect. */
  minMs: number;
  /** No wait is ever longer than this. */
  maxMs: number;
  factor: number;
  /** Share of a wait taken off at random (0–1), so tabs that lost the same server do not return together. */
  jitter: number;
}

/** 0.5 s doubling up to 5 s: a restarted Sluice is found within 5 s of listening again. */
export const RECONNECT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ minMs: 500, maxMs: 5000, factor: 2, jitter: 0.5 });

/** A connection that lasted at least this long counts as a success: the next disconnect starts from minMs again. */
export const STABLE_CONNECTION_MS = 5000;

/** What a view shows in place of a number it cannot vouch for. */
export const BLANK = '—';

/**
 * The wait before attempt `attempt` (0 = the first after a disconnect): min · factor^attempt, capped at max,
 * less up to `jitter` of it at random. `random` is a draw from [0, 1).
 */
export function backoffDelay(attempt: number, random: number, options: Readonly<BackoffOptions> = RECONNECT_BACKOFF): number {
  const base = Math.min(options.maxMs, options.minMs * options.factor ** Math.max(0, attempt));
  const draw = Math.min(1, Math.max(0, random));
  return Math.round(base * (1 - options.jitter * draw));
}

export interface Backoff {
  /** The wait before the next attempt; counts the attempt. */
  next(): number;
  reset(): void;
  readonly attempts: number;
}

export function createBackoff(options: Readonly<BackoffOptions> = RECONNECT_BACKOFF, random: () => number = Math.random): Backoff {
  let attempts = 0;
  return {
    next() {
      return backoffDelay(attempts++, random(), options);
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Wall-clock time of day, HH:MM:SS in the browser's time zone. */
export function clockTime(ts: number): string {
  const d = new Date(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * Wall-clock date and time, YYYY-MM-DD HH:MM:SS in the browser's time zone: the same digits whatever the browser's
 * locale, as clockTime (toLocaleString would give "12/7/2026, 6:47:14 PM" in one browser and "7.12.2026, 18:47:14"
 * in another).
 */
export function clockDateTime(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clockTime(ts)}`;
}

/** "8 s", "3 min", "2 h 5 min": how long ago, readable at a glance. */
export function agoText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
}

export interface LostLinkInput {
  /** Browser time the last frame (or snapshot) arrived; undefined when none ever did. */
  lastDataAt: number | undefined;
  /** Browser time of the next scheduled attempt; undefined while one is under way. */
  nextAttemptAt: number | undefined;
  now: number;
}

export interface LostLinkText {
  headline: string;
  /** "(35 s ago)", or empty when there never was data. */
  age: string;
  /** "retrying in 3 s" or "reconnecting…". */
  retry: string;
}

/** The banner while the link is lost. */
export function describeLostLink(input: LostLinkInput): LostLinkText {
  const { lastDataAt, nextAttemptAt, now } = input;
  const headline = lastDataAt === undefined ? 'Connection lost — no data received yet' : `Connection lost — data as of ${clockTime(lastDataAt)}`;
  const age = lastDataAt === undefined ? '' : `(${agoText(now - lastDataAt)} ago)`;
  const wait = nextAttemptAt === undefined ? 0 : Math.ceil((nextAttemptAt - now) / 1000);
  return { headline, age, retry: wait > 0 ? `retrying in ${wait} s` : 'reconnecting…' };
}

/** What the pipeline view's last `GET /api/pipeline` did. */
export type PollOutcome = 'none' | 'ok' | 'failed';

/** Pipeline numbers are current only when the last poll answered and the live link is not lost. */
export function pipelineIsFresh(link: LinkState, poll: PollOutcome): boolean {
  return poll === 'ok' && link !== 'lost';
}

export type BackendState = 'reachable' | 'unreachable' | 'unknown';

/**
 * One row per backend the last answer named. When the numbers are not fresh, "reachable" would be a claim
 * about a past we cannot see: every backend is `unknown` then.
 */
export function backendStates(backends: Readonly<Record<string, boolean>> | undefined, fresh: boolean): { name: string; state: BackendState }[] {
  return Object.entries(backends ?? {}).map(([name, ok]) => ({ name, state: !fresh ? 'unknown' : ok ? 'reachable' : 'unreachable' }));
}

/** A rate (or any live number) as text, or BLANK when it is not current. */
export function liveText(text: string, fresh: boolean): string {
  return fresh ? text : BLANK;
}

/**
 * Where a view fetches its recent window from: the whole window the first time (`newestTs` undefined), after a
 * reconnect from `overlapMs` before the newest reading it has (so what arrived meanwhile comes, and a reading
 * that was in flight at the disconnect is not missed), never before the window.
 */
export function reloadSince(now: number, windowMs: number, newestTs: number | undefined, overlapMs: number): number {
  const windowStart = now - windowMs;
  if (newestTs === undefined || !Number.isFinite(newestTs)) return windowStart;
  return Math.max(windowStart, newestTs - overlapMs);
}

/**
 * Merges a fetched list into one the page holds (both newest first): each item once by `key`, newest first by
 * `at`, at most `max`. In place, so views keep their array.
 */
export function mergeNewestFirst<T>(list: T[], incoming: readonly T[], max: number, at: (item: T) => number, key: (item: T) => string): void {
  const seen = new Set(list.map(key));
  for (const item of incoming) {
    const k = key(item);
    if (seen.has(k)) continue;
    seen.add(k);
    list.push(item);
  }
  list.sort((a, b) => at(b) - at(a));
  if (list.length > max) list.length = max;
}
