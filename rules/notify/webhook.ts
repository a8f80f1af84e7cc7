/**
 * Alert notifications over HTTP: each transition is POSTed as JSON to the rule's `notify.webhook` URL, off the
 * caller's path (`notify` queues and returns). What a receiver gets:
 *
 *   POST <url>
 *   content-type: application/json
 *   idempotency-key: <alertId>:<seq>          (<alertId>:<seq>:repeat-<n> for the n-th reminder)
 *   user-agent: sluice-webhook/1
 *   <secretHeader.name>: <secretHeader.value>  (when the rule has one)
 *
 *   { ...AlertTransition (core/alerts.ts), "repeat": 0, "text": "CRITICAL login-storm on sim-3: raised, value=10 — …" }
 *
 * `repeat` is 0 for the transition itself and n for the n-th reminder of an open alert (notify.repeatEvery);
 * `text` is one line for a person, which chat hooks that read a `text` field show as is. A receiver dedupes on
 * the idempotency key: a retry after a lost answer, or the same records evaluated again, carry the same one.
 *
 * Delivery: a 2xx is sent. Network errors, timeouts (`timeoutMs` per request), 408, 429 and 5xx are retried
 * `retries` times, after `backoffMs` doubling each time with jitter, or after the Retry-After the receiver asked
 * for — each wait at most `maxDelayMs`. Any other answer fails at once. A transition that fails goes to
 * `deadLetter` once, with the reason. Transitions of one alert to one URL go out one at a time in seq order, so a
 * receiver never sees `cleared` before `raised`; different alerts go out side by side, `concurrency` requests at
 * most. At most `maxQueued` transitions are held (waiting or being tried); beyond that the oldest is dropped to a
 * dead letter.
 *
 * Reasons and logs name a URL by its origin only: hooks such as Slack's carry their secret in the path.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AlertTransition } from '../../core/alerts.js';
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../core/metrics.js';
import { backoffDelay, HALF_JITTER, type BackoffOptions } from '../../core/retry.js';

export interface WebhookTarget {
  url: string;
  secretHeader?: { name: string; value: string } | undefined;
}

export interface WebhookNotifierOptions {
  /** A request without an answer after this long is cut, and counts as a failed attempt. */
  timeoutMs: number;
  /** Attempts after the first, for a failure worth retrying. */
  retries: number;
  /** The wait before the first retry; it doubles for each next one, with jitter (half to all of it). */
  backoffMs: number;
  /** Transitions held at most, waiting or being tried; beyond it the oldest is dropped to a dead letter. */
  maxQueued: number;
  /** The longest wait before a retry, a receiver's Retry-After included; default 60 s. */
  maxDelayMs?: number;
  /** Requests in flight at most, over all URLs; default 8. */
  concurrency?: number;
  /** How long `close` waits for what is queued before dead-lettering the rest; default 10 s. */
  drainMs?: number;
  /** For Retry-After given as a date; default Date.now. */
  now?: () => number;
  /** The jitter's source, in [0, 1); default Math.random. */
  random?: () => number;
}

export interface WebhookNotifierDeps {
  logger: Logger;
  metrics: Pick<Metrics, 'alertNotifications'>;
  /** A transition that will not be delivered: the device, why, and the JSON body it would have been. */
  deadLetter: (deviceId: string, reason: string, payload: string) => Promise<void>;
}

export interface WebhookNotifier {
  /** Queues the transition (or, with `repeat`, the n-th reminder of it) for the target; never blocks or throws. */
  notify(target: WebhookTarget, alert: AlertTransition, options?: { repeat?: number }): void;
  /** Transitions held now: waiting, and being tried (in flight or between attempts). */
  pending(): { waiting: number; trying: number };
  /** Stops taking transitions, waits up to `drainMs` for the held ones, dead-letters what is left. */
  close(): Promise<void>;
}

export interface WebhookBody extends AlertTransition {
  repeat: number;
  text: string;
}

interface Item {
  target: WebhookTarget;
  alert: AlertTransition;
  body: string;
  key: string;
  lane: Lane;
  /** Aborted when the item is dropped (queue full) or abandoned (shutdown); `reason` says which. */
  abort: AbortController;
  reason?: string;
}

interface Lane {
  id: string;
  /** Waiting items in seq order; the lane's loop takes them one at a time. */
  items: Item[];
  running: boolean;
}

type Attempt = { ok: true } | { ok: false; retriable: boolean; reason: string; retryAfterMs?: number };

const DEFAULT_MAX_DELAY_MS = 60_000;
const DEFAULT_CONCURRENCY = 8;
const DEFAULT_DRAIN_MS = 10_000;

export function createWebhookNotifier(options: WebhookNotifierOptions, deps: WebhookNotifierDeps): WebhookNotifier {
  const logger = deps.logger.child({ module: 'webhook' });
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const backoff: BackoffOptions = { initialMs: options.backoffMs, maxMs: maxDelayMs, jitter: HALF_JITTER };
  const slots = createSlots(options.concurrency ?? DEFAULT_CONCURRENCY);
  const lanes = new Map<string, Lane>();
  /** The items the queue bound counts, oldest first: held, and not dropped yet. */
  const held = new Set<Item>();
  /** Items not finished: held, or dropped while being tried and not yet dead-lettered. */
  let unfinished = 0;
  const deadLetters = new Set<Promise<void>>();
  let idle: Array<() => void> = [];
  let closing: Promise<void> | undefined;
  const count = (outcome: 'sent' | 'retried' | 'failed' | 'dropped'): void => deps.metrics.alertNotifications.inc({ channel: 'webhook', outcome });

  function notify(target: WebhookTarget, alert: AlertTransition, notifyOptions: { repeat?: number } = {}): void {
    const repeat = notifyOptions.repeat ?? 0;
    const body = JSON.stringify(bodyOf(alert, repeat));
    if (closing !== undefined) {
      count('dropped');
      deadLetterOf(alert.deviceId, `${nameOf(target.url)} not sent: the notifier is shutting down`, body);
      return;
    }
    const laneId = `${target.url}\u0000${alert.alertId}`;
    const lane = lanes.get(laneId) ?? { id: laneId, items: [], running: false };
    lanes.set(laneId, lane);
    const key = repeat > 0 ? `${alert.alertId}:${alert.seq}:repeat-${repeat}` : `${alert.alertId}:${alert.seq}`;
    const item: Item = { target, alert, body, key, lane, abort: new AbortController() };
    // Transitions normally arrive in seq order; one that does not still goes out in it.
    let at = lane.items.length;
    while (at > 0 && (lane.items[at - 1]?.alert.seq ?? 0) > alert.seq) at--;
    lane.items.splice(at, 0, item);
    held.add(item);
    unfinished++;
    if (held.size > options.maxQueued) {
      const oldest = held.values().next().value;
      if (oldest !== undefined) drop(oldest, `${nameOf(oldest.target.url)} not sent: queue full (${options.maxQueued} held), dropped the oldest`);
    }
    run(lane);
  }

  /** Takes an item out: a waiting one is dead-lettered here, one being tried by its lane when it sees the abort. */
  function drop(item: Item, reason: string): void {
    if (item.reason !== undefined) return;
    item.reason = reason;
    held.delete(item);
    item.abort.abort();
    const index = item.lane.items.indexOf(item);
    if (index !== -1) {
      item.lane.items.splice(index, 1);
      finish(item, 'dropped', reason);
    }
  }

  function run(lane: Lane): void {
    if (lane.running) return;
    lane.running = true;
    void (async () => {
      for (let item = lane.items.shift(); item !== undefined; item = lane.items.shift()) await deliver(item);
      lane.running = false;
      lanes.delete(lane.id);
    })();
  }

  async function deliver(item: Item): Promise<void> {
    const attempts = options.retries + 1;
    for (let attempt = 1; ; attempt++) {
      const result = await attemptOnce(item);
      if (result.ok) return finish(item, 'sent');
      if (item.reason !== undefined) return finish(item, 'dropped', item.reason);
      const name = nameOf(item.target.url);
      if (!result.retriable) return finish(item, 'failed', `${name} ${result.reason} (not retried)`);
      if (attempt >= attempts) return finish(item, 'failed', `${name} ${result.reason} after ${attempts} attempt${attempts === 1 ? '' : 's'}`);
      count('retried');
      // `attempt` counts from 1: the first retry waits backoffMs.
      const delayMs = Math.min(result.retryAfterMs ?? backoffDelay(attempt - 1, backoff, random), maxDelayMs);
      logger.debug({ url: name, alertId: item.alert.alertId, seq: item.alert.seq, attempt, delayMs, reason: result.reason }, 'webhook attempt failed, retrying');
      try {
        await sleep(delayMs, undefined, { signal: item.abort.signal });
      } catch {
        return finish(item, 'dropped', item.reason ?? 'aborted');
      }
    }
  }

  async function attemptOnce(item: Item): Promise<Attempt> {
    if (!(await slots.acquire(item.abort.signal))) return { ok: false, retriable: false, reason: 'aborted' };
    try {
      return await post(item);
    } finally {
      slots.release();
    }
  }

  async function post(item: Item): Promise<Attempt> {
    const { url, secretHeader } = item.target;
    if (!/^https?:$/.test(safeUrl(url)?.protocol ?? '')) return { ok: false, retriable: false, reason: 'is not an http(s) URL' };
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': item.key, 'user-agent': 'sluice-webhook/1' };
    if (secretHeader !== undefined) headers[secretHeader.name] = secretHeader.value;
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', headers, body: item.body, signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), item.abort.signal]) });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') return { ok: false, retriable: true, reason: `did not answer within ${options.timeoutMs} ms` };
      return { ok: false, retriable: true, reason: `unreachable (${networkCause(error)})` };
    }
    // The answer's body is not read: cancelling it frees the connection at once.
    await response.body?.cancel().catch(() => undefined);
    const { status } = response;
    if (status >= 200 && status < 300) return { ok: true };
    const answered = `answered ${status}`;
    if (status === 429 || status === 503) {
      const retryAfterMs = retryAfterOf(response.headers.get('retry-after'), now());
      return { ok: false, retriable: true, reason: answered, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    }
    return { ok: false, retriable: status === 408 || status >= 500, reason: answered };
  }

  function finish(item: Item, outcome: 'sent' | 'failed' | 'dropped', reason?: string): void {
    held.delete(item);
    unfinished--;
    count(outcome);
    if (outcome !== 'sent') {
      const { alertId, seq, deviceId } = item.alert;
      logger.warn({ alertId, seq, deviceId, reason }, 'webhook notification not delivered');
      deadLetterOf(deviceId, reason ?? 'not delivered', item.body);
    }
    if (unfinished === 0) {
      for (const resolve of idle) resolve();
      idle = [];
    }
  }

  function deadLetterOf(deviceId: string, reason: string, payload: string): void {
    const written = Promise.resolve()
      .then(() => deps.deadLetter(deviceId, reason, payload))
      .catch((error: unknown) => logger.error({ err: error, deviceId, reason }, 'could not write the dead letter of a webhook notification'))
      .finally(() => deadLetters.delete(written));
    deadLetters.add(written);
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      if (unfinished > 0) {
        const drained = new Promise<void>((resolve) => idle.push(resolve));
        const bound = new AbortController();
        await Promise.race([drained, sleep(options.drainMs ?? DEFAULT_DRAIN_MS, undefined, { signal: bound.signal }).catch(() => undefined)]);
        bound.abort();
        for (const item of [...held]) drop(item, `${nameOf(item.target.url)} not sent before shutdown`);
        await drained;
      }
      while (deadLetters.size > 0) await Promise.all([...deadLetters]);
    })();
    return closing;
  }

  return {
    notify,
    pending: () => {
      const waiting = [...lanes.values()].reduce((sum, lane) => sum + lane.items.length, 0);
      return { waiting, trying: unfinished - waiting };
    },
    close,
  };
}

export function bodyOf(alert: AlertTransition, repeat: number): WebhookBody {
  const reminder = repeat > 0 ? ` (reminder ${repeat})` : '';
  const measured = `${alert.metric ?? 'value'}=${Math.round(alert.value * 1000) / 1000}`;
  const text = `${alert.severity.toUpperCase()} ${alert.ruleId} on ${alert.deviceId}: ${alert.transition}${reminder}, ${measured} — ${alert.description}`;
  return { ...alert, repeat, text };
}

/** `webhook https://hooks.example.com/…`: the origin only, since the path or query may be the hook's secret. */
export function nameOf(url: string): string {
  const parsed = safeUrl(url);
  if (parsed === undefined) return 'webhook (an invalid URL)';
  return `webhook ${parsed.origin}${parsed.pathname === '/' && parsed.search === '' ? '' : '/…'}`;
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterOf(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Node's fetch says only "fetch failed"; the socket's error code is in its cause. */
function networkCause(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return (error as Error).message;
}

/** A counting semaphore whose waiters give up when their signal aborts. */
function createSlots(size: number): { acquire(signal: AbortSignal): Promise<boolean>; release(): void } {
  let free = size;
  const waiters: Array<(granted: boolean) => void> = [];
  return {
    acquire(signal) {
      if (signal.aborted) return Promise.resolve(false);
      if (free > 0) {
        free--;
        return Promise.resolve(true);
      }
      return new Promise((resolve) => {
        const waiter = (granted: boolean): void => {
          signal.removeEventListener('abort', onAbort);
          resolve(granted);
        };
        const onAbort = (): void => {
          waiters.splice(waiters.indexOf(waiter), 1);
          resolve(false);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiters.push(waiter);
      });
    },
    release() {
      const next = waiters.shift();
      if (next !== undefined) next(true);
      else free++;
    },
  };
}
