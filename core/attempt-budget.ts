/**
 * Login attempts per key (a remote address, a device id): each key may have at most `budget` attempts that
 * are either still being checked or failed recently; one failure is forgiven every `refillMs`. Attempts are
 * counted when they start, so a burst of parallel guesses gets no more checks than a sequential one. A
 * success forgives nothing but its own attempt: it does not reopen the key for the guesses that failed.
 * Used by the MQTT gateway (address and device id) and the dashboard login (address).
 */
export interface AttemptBudgetOptions {
  budget: number;
  refillMs: number;
  /** Keys remembered at most, so a scan from many addresses cannot grow memory without bound. */
  maxKeys: number;
  now?: () => number;
}

/** `open`: may start now; `busy`: attempts in flight hold the rest of the budget; `spent`: recent failures do. */
export type BudgetVerdict = 'open' | 'busy' | 'spent';

export interface AttemptBudget {
  verdict(keys: readonly string[]): BudgetVerdict;
  /** Counts one attempt in flight on every key; call after an `open` verdict. */
  start(keys: readonly string[]): void;
  /** Ends an attempt: a failure stays counted until forgiven, anything else is released at once. */
  finish(keys: readonly string[], outcome: 'succeeded' | 'failed' | 'abandoned'): void;
  /** Adds failures counted elsewhere (another gateway's, through the events stream) to a key. */
  charge(key: string, failures: number): void;
  /** Forgets a key's failures (a device id that proved its secret). */
  clear(key: string): void;
  /** Failures a key holds now, forgiveness included; 0 for an unknown key. */
  failures(key: string): number;
  /** When a `spent` key frees one attempt, in ms from now. */
  retryAfterMs(keys: readonly string[]): number;
  size(): number;
}

interface KeyState {
  /** Failures not forgiven yet, a whole number. */
  failures: number;
  inFlight: number;
  /** When the failure being forgiven now started its `refillMs`. */
  since: number;
}

export function createAttemptBudget(options: AttemptBudgetOptions): AttemptBudget {
  const now = options.now ?? Date.now;
  const states = new Map<string, KeyState>();

  /**
   * The key's state with forgiveness applied; undefined when nothing is left to remember. Whole failures
   * are forgiven and the part of `refillMs` already waited is kept in `since`, so no rounding error builds
   * up over many calls. A clock that steps back forgives nothing until it has caught up again.
   */
  function settle(key: string): KeyState | undefined {
    const state = states.get(key);
    if (!state) return undefined;
    const at = now();
    if (state.failures > 0 && at > state.since) {
      const forgiven = Math.min(state.failures, Math.floor((at - state.since) / options.refillMs));
      state.failures -= forgiven;
      state.since += forgiven * options.refillMs;
    }
    if (state.failures === 0) state.since = at;
    if (state.failures === 0 && state.inFlight === 0) {
      states.delete(key);
      return undefined;
    }
    return state;
  }

  function touch(key: string): KeyState {
    const known = settle(key);
    const state = known ?? { failures: 0, inFlight: 0, since: now() };
    // Re-inserting keeps the Map in least-recently-used order, so the oldest key is evicted first.
    states.delete(key);
    states.set(key, state);
    if (!known) evictBeyondMax(key);
    return state;
  }

  /** Oldest keys first, but never one with attempts in flight (its finish would find nothing) nor `keep`. */
  function evictBeyondMax(keep: string): void {
    for (const [key, state] of states) {
      if (states.size <= options.maxKeys) return;
      if (state.inFlight > 0 || key === keep) continue;
      states.delete(key);
    }
  }

  return {
    verdict(keys) {
      let verdict: BudgetVerdict = 'open';
      for (const key of keys) {
        const state = settle(key);
        if (!state) continue;
        if (state.failures >= options.budget) return 'spent';
        if (state.failures + state.inFlight >= options.budget) verdict = 'busy';
      }
      return verdict;
    },
    start(keys) {
      for (const key of keys) touch(key).inFlight += 1;
    },
    finish(keys, outcome) {
      for (const key of keys) {
        const state = touch(key);
        state.inFlight = Math.max(0, state.inFlight - 1);
        if (outcome === 'failed') state.failures += 1;
        settle(key);
      }
    },
    charge(key, failures) {
      touch(key).failures += failures;
      settle(key);
    },
    clear(key) {
      const state = states.get(key);
      if (state) state.failures = 0;
      settle(key);
    },
    failures: (key) => settle(key)?.failures ?? 0,
    retryAfterMs(keys) {
      let wait = 0;
      for (const key of keys) {
        const state = settle(key);
        if (!state || state.failures < options.budget) continue;
        // Open again once failures fall to budget - 1: the one being forgiven now, then one refillMs each.
        const waited = Math.max(0, now() - state.since);
        wait = Math.max(wait, (state.failures - options.budget + 1) * options.refillMs - waited);
      }
      return wait;
    },
    size: () => states.size,
  };
}

/** Keys remembered for `ttlMs` after they were last added, at most `maxKeys` (the oldest go first). */
export function createExpiringSet(options: { ttlMs: number; maxKeys: number; now?: () => number }) {
  const now = options.now ?? Date.now;
  const addedAt = new Map<string, number>();
  return {
    has(key: string): boolean {
      const at = addedAt.get(key);
      if (at === undefined) return false;
      if (now() - at <= options.ttlMs) return true;
      addedAt.delete(key);
      return false;
    },
    add(key: string): void {
      addedAt.delete(key);
      addedAt.set(key, now());
      if (addedAt.size > options.maxKeys) addedAt.delete(addedAt.keys().next().value!);
    },
    delete: (key: string): boolean => addedAt.delete(key),
    get size() {
      return addedAt.size;
    },
  };
}
