import { createAttemptBudget, createExpiringSet, type AttemptBudget, type BudgetVerdict } from '../core/attempt-budget.js';

export interface AuthGateOptions {
  /** Attempts in flight or failed recently per device id; an address gets ADDRESS_SHARE times as many. */
  budget: number;
  /** One failure of a device id forgiven every this many ms (of an address, ADDRESS_SHARE times as often). */
  refillMs: number;
  /** Secret checks (scrypt) running at once. */
  concurrency: number;
  /** Logins waiting for a check; beyond it they are refused. */
  maxQueued: number;
  /** How long a device that logged in from an address is trusted there. */
  trustMs?: number;
  maxKeys?: number;
  now?: () => number;
}

export interface LoginAttempt {
  address: string;
  deviceId: string;
  /** True once the connection is gone: its check is skipped. */
  gone(): boolean;
}

export type GateResult =
  | { outcome: 'succeeded' | 'failed' }
  | { refused: 'auth-throttled' | 'auth-queue-full'; retryAfterMs: number }
  | { abandoned: true };

export interface AuthGate {
  /**
   * Runs `check` for a login when its address and device id have budget left and a check slot is free.
   * Logins are served round-robin across addresses, so a storm from one address delays another by at most
   * the checks already running. A rejected `check` counts as neither success nor failure and rejects here.
   */
  run(attempt: LoginAttempt, check: () => Promise<boolean>): Promise<GateResult>;
  /**
   * Failed logins of a device id that another gateway checked (its `auth-failed` events): they spend this gateway's
   * budget for the id too, so spreading guesses over N gateways does not buy N budgets.
   */
  chargeElsewhere(deviceId: string, failures: number): void;
  /** Failures a device id holds now (attempts forgiven over time), for the operator. */
  failuresOf(deviceId: string): number;
  stats(): { running: number; queued: number; keys: number };
}

/**
 * Many devices may share an address (a NAT, a site gateway). Its budget is a multiple of a device's, so one
 * device stuck on a wrong secret spends its own budget and not its neighbours'; guessing across many ids
 * from one address is still bounded.
 */
export const ADDRESS_SHARE = 10;

/** One budgeted key of an attempt; a key that does not gate it still counts it. */
interface Slot {
  budget: AttemptBudget;
  key: string;
  gates: boolean;
}

interface Waiting {
  attempt: LoginAttempt;
  slots: Slot[];
  check: () => Promise<boolean>;
  settle: (result: GateResult) => void;
  fail: (error: unknown) => void;
}

const addressKey = (address: string) => `a:${address}`;
const deviceKey = (deviceId: string) => `d:${deviceId}`;
const pairKey = (address: string, deviceId: string) => `p:${address}\u0000${deviceId}`;

/**
 * Admission for password checks. A device that logged in from an address before is trusted there: it is
 * checked against its own pair budget only, so a storm of wrong secrets from its address, or against its id
 * from elsewhere, does not lock it out. One failure ends that trust.
 */
export function createAuthGate(options: AuthGateOptions): AuthGate {
  const now = options.now ?? Date.now;
  const trustMs = options.trustMs ?? 24 * 3600_000;
  const maxKeys = options.maxKeys ?? 100_000;
  const perDevice = createAttemptBudget({ budget: options.budget, refillMs: options.refillMs, maxKeys, now });
  const perAddress = createAttemptBudget({ budget: options.budget * ADDRESS_SHARE, refillMs: options.refillMs / ADDRESS_SHARE, maxKeys, now });
  const severity: Record<BudgetVerdict, number> = { open: 0, busy: 1, spent: 2 };
  const verdictOf = (slots: Slot[]): BudgetVerdict =>
    slots
      .filter((slot) => slot.gates)
      .map((slot) => slot.budget.verdict([slot.key]))
      .reduce((worst, verdict) => (severity[verdict] > severity[worst] ? verdict : worst), 'open');
  const retryAfterOf = (slots: Slot[]): number => Math.max(0, ...slots.filter((slot) => slot.gates).map((slot) => slot.budget.retryAfterMs([slot.key])));
  // A trusted device is gated by its own pair only, yet counted on its address and id: the guesses made
  // while it was still trusted spend the budget that gates everyone else's.
  const slotsOf = (address: string, deviceId: string, trustedPair: boolean): Slot[] => [
    ...(trustedPair ? [{ budget: perDevice, key: pairKey(address, deviceId), gates: true }] : []),
    { budget: perAddress, key: addressKey(address), gates: !trustedPair },
    { budget: perDevice, key: deviceKey(deviceId), gates: !trustedPair },
  ];
  const trusted = createExpiringSet({ ttlMs: trustMs, maxKeys, now });
  const isTrusted = (address: string, deviceId: string) => trusted.has(pairKey(address, deviceId));
  const trust = (address: string, deviceId: string) => trusted.add(pairKey(address, deviceId));
  const queues = new Map<string, Waiting[]>();
  let queued = 0;
  let running = 0;

  function dispatch(waiting: Waiting): void {
    const { attempt, slots } = waiting;
    running++;
    for (const slot of slots) slot.budget.start([slot.key]);
    const finish = (outcome: 'succeeded' | 'failed' | 'abandoned') => {
      for (const slot of slots) slot.budget.finish([slot.key], outcome);
      running--;
      if (outcome === 'succeeded') {
        perDevice.clear(deviceKey(attempt.deviceId));
        trust(attempt.address, attempt.deviceId);
      } else if (outcome === 'failed') {
        trusted.delete(pairKey(attempt.address, attempt.deviceId));
      }
      sweepAll();
      pump();
    };
    waiting.check().then(
      (ok) => {
        finish(ok ? 'succeeded' : 'failed');
        waiting.settle({ outcome: ok ? 'succeeded' : 'failed' });
      },
      (error: unknown) => {
        finish('abandoned');
        waiting.fail(error);
      },
    );
  }

  /** Settles the logins of a queue that will never run: their connection is gone or their budget is spent. */
  function sweep(queue: Waiting[]): void {
    for (let i = queue.length - 1; i >= 0; i--) {
      const waiting = queue[i]!;
      const gone = waiting.attempt.gone();
      if (!gone && verdictOf(waiting.slots) !== 'spent') continue;
      queue.splice(i, 1);
      queued--;
      waiting.settle(gone ? { abandoned: true } : { refused: 'auth-throttled', retryAfterMs: retryAfterOf(waiting.slots) });
    }
  }

  // When each address last got a check slot: the next slot goes to the address served longest ago.
  const lastServed = new Map<string, number>();
  let serveCount = 0;

  /** Settles every waiting login that will never run; after a check ends, when budgets have moved. */
  function sweepAll(): void {
    for (const [address, queue] of queues) {
      sweep(queue);
      if (queue.length === 0) queues.delete(address);
    }
  }

  function pump(): void {
    while (running < options.concurrency) {
      let chosen: { address: string; index: number; served: number } | undefined;
      for (const [address, queue] of queues) {
        const served = lastServed.get(address) ?? 0;
        if (chosen && served >= chosen.served) continue;
        const index = queue.findIndex((waiting) => verdictOf(waiting.slots) === 'open');
        if (index >= 0) chosen = { address, index, served };
      }
      if (!chosen) return;
      const queue = queues.get(chosen.address)!;
      const [next] = queue.splice(chosen.index, 1);
      queued--;
      if (queue.length === 0) queues.delete(chosen.address);
      lastServed.delete(chosen.address);
      lastServed.set(chosen.address, ++serveCount);
      if (lastServed.size > maxKeys) lastServed.delete(lastServed.keys().next().value!);
      dispatch(next!);
    }
  }

  return {
    run(attempt, check) {
      const slots = slotsOf(attempt.address, attempt.deviceId, isTrusted(attempt.address, attempt.deviceId));
      if (verdictOf(slots) === 'spent') return Promise.resolve({ refused: 'auth-throttled', retryAfterMs: retryAfterOf(slots) });
      if (queued >= options.maxQueued) sweepAll();
      if (queued >= options.maxQueued) return Promise.resolve({ refused: 'auth-queue-full', retryAfterMs: 1000 });
      return new Promise<GateResult>((settle, fail) => {
        const queue = queues.get(attempt.address);
        const waiting: Waiting = { attempt, slots, check, settle, fail };
        if (queue) queue.push(waiting);
        else queues.set(attempt.address, [waiting]);
        queued++;
        if (running < options.concurrency) pump();
      });
    },
    chargeElsewhere(deviceId, failures) {
      // The device's own trusted address is not affected: guesses elsewhere must not lock the real device out.
      perDevice.charge(deviceKey(deviceId), failures);
    },
    failuresOf: (deviceId) => perDevice.failures(deviceKey(deviceId)),
    stats: () => ({ running, queued, keys: perDevice.size() + perAddress.size() }),
  };
}
