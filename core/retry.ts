/**
 * Exponential backoff, the one rule every retry in Sluice waits by (kafkajs keeps one `createRetry` for every
 * component in the same way): the bridge's and the writer's batch retries, Kafka admin calls, webhook
 * deliveries, and the simulated devices' reconnects. A pure function of the attempt, so each site keeps its own
 * loop (its timers, its abort, its Retry-After) and its numbers.
 *
 * The browser's own reconnect rule (dashboard/web/connection.ts) is built for the page bundle and stays there.
 */

export interface BackoffOptions {
  /** The delay of attempt 0. */
  initialMs: number;
  /** No delay is longer; the growth stops here. */
  maxMs: number;
  /** Growth per attempt; default 2 (doubling). */
  factor?: number;
  /**
   * Share of each delay that is drawn at random (0 to 1), so that clients retrying together do not come back in
   * lockstep: a delay `d` becomes one in [d · (1 − jitter), d). Default 0: no jitter.
   */
  jitter?: number;
}

/**
 * The wait before retry `attempt` (0 = the first retry): `initialMs · factor^attempt`, capped at `maxMs`, less up to
 * `jitter` of it at random. `random` draws from [0, 1); it is called only when there is jitter.
 */
export function backoffDelay(attempt: number, options: Readonly<BackoffOptions>, random: () => number = Math.random): number {
  const grown = options.initialMs * (options.factor ?? 2) ** Math.max(0, attempt);
  // `|| 0`: an initialMs of 0 stays 0 however many attempts (0 · Infinity would be NaN).
  const ceiling = Math.min(options.maxMs, grown || 0);
  const jitter = options.jitter ?? 0;
  if (jitter <= 0) return ceiling;
  return ceiling * (1 - jitter) + random() * (ceiling * jitter);
}

/** Jitter over the upper half of each delay (half to all of it): the retries' usual spread. */
export const HALF_JITTER = 0.5;
