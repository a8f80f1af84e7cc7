export interface AuthThrottleOptions {
  /** Failures from one address answered at full speed before slowing down. */
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A quiet address is forgotten after this long. */
  forgetAfterMs: number;
  /** Addresses remembered at most, so a scan from many addresses cannot grow memory without bound. */
  maxAddresses: number;
  now?: () => number;
}

export interface AuthThrottle {
  /** How long to hold the answer to a CONNECT from this address. */
  delayFor(address: string): number;
  failed(address: string): void;
  succeeded(address: string): void;
  size(): number;
}

/**
 * Slows down repeated authentication failures per remote address: after a few free failures each
 * further attempt waits twice as long, up to a ceiling. Guessing a secret gets nowhere fast, while a
 * device with a typo recovers at once after a success.
 */
export function createAuthThrottle(options: AuthThrottleOptions): AuthThrottle {
  const now = options.now ?? Date.now;
  const failures = new Map<string, { count: number; lastAt: number }>();

  function current(address: string): { count: number; lastAt: number } | undefined {
    const entry = failures.get(address);
    if (entry && now() - entry.lastAt > options.forgetAfterMs) {
      failures.delete(address);
      return undefined;
    }
    return entry;
  }

  return {
    delayFor(address) {
      const entry = current(address);
      if (!entry || entry.count < options.freeFailures) return 0;
      return Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (entry.count - options.freeFailures));
    },
    failed(address) {
      const entry = current(address);
      // Re-inserting keeps the Map in least-recently-failed order, so the oldest is evicted first.
      failures.delete(address);
      failures.set(address, { count: (entry?.count ?? 0) + 1, lastAt: now() });
      if (failures.size > options.maxAddresses) failures.delete(failures.keys().next().value!);
    },
    succeeded(address) {
      failures.delete(address);
    },
    size: () => failures.size,
  };
}
