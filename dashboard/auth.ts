import { addressKey } from '../core/client-address.js';
/**
 * Every check of the dashboard token, over every channel (bearer header, session cookie, `/?token=`, the
 * login form, the socket.io handshake), goes through one `DashboardAuth` per process, which throttles wrong
 * tokens per remote address the way the MQTT gateway throttles device logins (core/attempt-budget.ts): an
 * address may present at most `budget` wrong tokens, and one is forgiven every `refillMs`. While an address
 * is over budget it is refused before its token is looked at, the right token included, so the throttle
 * cannot tell a guesser which guess was right. Only wrong tokens count: a request without any (a browser
 * opening `/` for the first time) costs nothing, and neither does a right one.
 *
 * The address is the TCP peer: fastify's `trustProxy` is off, so `X-Forwarded-For` is ignored and every
 * client behind one reverse proxy shares the proxy's budget. IPv6 peers are counted per /64, the block one
 * host usually holds.
 */
import { Counter } from 'prom-client';
import { createAttemptBudget } from '../core/attempt-budget.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DashboardToken } from './token.js';

/** The gateway's defaults too (`AUTH_FAILURE_BUDGET`, `AUTH_FAILURE_REFILL_MS`). */
export const DEFAULT_AUTH_FAILURE_BUDGET = 10;
export const DEFAULT_AUTH_FAILURE_REFILL_MS = 6000;

/** Where a token came from; a field of the log line. */
export type AuthChannel = 'bearer' | 'cookie' | 'query' | 'form' | 'socket';

export type AuthResult =
  | { ok: true }
  /** No token at all (or an empty one): not counted. */
  | { ok: false; reason: 'missing' }
  | { ok: false; reason: 'bad-token' }
  /** Refused unchecked: the address is over its budget. Retry after `retryAfterS` seconds (at least 1). */
  | { ok: false; reason: 'too-many-attempts'; retryAfterS: number };

export interface DashboardAuthOptions {
  token: DashboardToken;
  metrics: Metrics;
  logger?: Logger;
  /** Wrong tokens an address may present before it is refused (`AUTH_FAILURE_BUDGET`); default 10. */
  budget?: number;
  /** One wrong token forgiven every this many ms (`AUTH_FAILURE_REFILL_MS`); default 6000. */
  refillMs?: number;
  /** Addresses remembered at most; default 100 000. */
  maxAddresses?: number;
  /** At most one warning per address this often; the ones in between are counted in the next. Default 10 s. */
  logEveryMs?: number;
  now?: () => number;
}

export interface DashboardAuth {
  /** Checks `candidate` from `remoteAddress` against the token, within the address's budget. */
  check(remoteAddress: string | undefined, candidate: string | undefined, via: AuthChannel): AuthResult;
  /** Seconds before `remoteAddress` may present a token again; 0 when it may now. */
  retryAfterS(remoteAddress: string | undefined): number;
}

export const TOO_MANY_ATTEMPTS = 'too-many-attempts';

export function tooManyAttemptsMessage(retryAfterS: number): string {
  return `Too many wrong tokens from your address; try again in ${retryAfterS} s.`;
}


type AuthCounter = Counter<'reason'>;

/**
 * `sluice_dashboard_auth_failures_total{reason}`: `bad-token` (a wrong token, counted against the address)
 * and `throttled` (refused unchecked, the address over budget). On the process's registry; taken from it when
 * already there (a second app on the same metrics, or core/metrics.ts defining it).
 */
export function dashboardAuthFailures(metrics: Metrics): AuthCounter {
  const name = 'sluice_dashboard_auth_failures_total';
  const existing = metrics.registry.getSingleMetric(name);
  if (existing) return existing as AuthCounter;
  return new Counter({
    name,
    help: 'Dashboard and API requests refused for their token: bad-token (wrong token), throttled (too many wrong tokens from the address)',
    labelNames: ['reason'] as const,
    registers: [metrics.registry],
  });
}

export function createDashboardAuth(options: DashboardAuthOptions): DashboardAuth {
  const now = options.now ?? Date.now;
  const maxAddresses = options.maxAddresses ?? 100_000;
  const logEveryMs = options.logEveryMs ?? 10_000;
  const log = options.logger?.child({ module: 'dashboard-auth' });
  const failures = dashboardAuthFailures(options.metrics);
  const budget = createAttemptBudget({
    budget: options.budget ?? DEFAULT_AUTH_FAILURE_BUDGET,
    refillMs: options.refillMs ?? DEFAULT_AUTH_FAILURE_REFILL_MS,
    maxKeys: maxAddresses,
    now,
  });
  // Per address: when its last warning was written and what happened since.
  const warned = new Map<string, { at: number; badTokens: number; throttled: number }>();

  const retryAfterS = (key: string): number => Math.max(1, Math.ceil(budget.retryAfterMs([key]) / 1000));

  /** One warning per address per `logEveryMs`; the refusals in between are counted in the next one. */
  function warn(key: string, remoteAddress: string | undefined, via: AuthChannel, kind: 'badTokens' | 'throttled'): void {
    if (!log) return;
    const at = now();
    const last = warned.get(key);
    if (last && at - last.at < logEveryMs && at >= last.at) {
      last[kind] += 1;
      return;
    }
    warned.delete(key);
    warned.set(key, { at, badTokens: 0, throttled: 0 });
    if (warned.size > maxAddresses) warned.delete(warned.keys().next().value!);
    const suppressed = last && last.badTokens + last.throttled > 0 ? { suppressedBadTokens: last.badTokens, suppressedThrottled: last.throttled } : {};
    const fields = { remoteAddress: remoteAddress ?? 'unknown', via, failures: budget.failures(key), ...suppressed };
    if (kind === 'badTokens') log.warn(fields, 'wrong dashboard token');
    else log.warn({ ...fields, retryAfterS: retryAfterS(key) }, 'dashboard token refused unchecked: too many wrong tokens from this address');
  }

  return {
    check(remoteAddress, candidate, via) {
      if (!candidate) return { ok: false, reason: 'missing' };
      const key = addressKey(remoteAddress);
      // Synchronous, so never `busy`; a budget shared with asynchronous checks could be.
      if (budget.verdict([key]) !== 'open') {
        failures.inc({ reason: 'throttled' });
        warn(key, remoteAddress, via, 'throttled');
        return { ok: false, reason: TOO_MANY_ATTEMPTS, retryAfterS: retryAfterS(key) };
      }
      budget.start([key]);
      let outcome: 'succeeded' | 'failed' | 'abandoned' = 'abandoned';
      try {
        outcome = options.token.check(candidate) ? 'succeeded' : 'failed';
      } finally {
        budget.finish([key], outcome);
      }
      if (outcome === 'succeeded') return { ok: true };
      failures.inc({ reason: 'bad-token' });
      warn(key, remoteAddress, via, 'badTokens');
      return { ok: false, reason: 'bad-token' };
    },
    retryAfterS(remoteAddress) {
      const key = addressKey(remoteAddress);
      return budget.verdict([key]) === 'open' ? 0 : retryAfterS(key);
    },
  };
}
