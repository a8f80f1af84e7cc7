import { describe, expect, it } from 'vitest';
import { ADDRESS_SHARE, createAuthGate } from '../../../gateway/auth-gate.js';

/** A check the test finishes by hand, so parallel attempts really overlap. */
function controlledChecks() {
  const pending: ((ok: boolean) => void)[] = [];
  let started = 0;
  return {
    check: () =>
      new Promise<boolean>((resolve) => {
        started++;
        pending.push(resolve);
      }),
    started: () => started,
    running: () => pending.length,
    finishAll: async (ok: boolean) => {
      while (pending.length > 0) {
        pending.shift()!(ok);
        // Let the gate settle and dispatch the next ones.
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}

const attempt = (address: string, deviceId: string, gone = () => false) => ({ address, deviceId, gone });

describe('createAuthGate', () => {
  it('checks no more parallel wrong secrets for one id than its budget, and refuses the rest without a check', async () => {
    const gate = createAuthGate({ budget: 10, refillMs: 6000, concurrency: 2, maxQueued: 1000, now: () => 0 });
    const checks = controlledChecks();
    const results = Array.from({ length: 200 }, () => gate.run(attempt('10.0.0.1', 'meter-1'), checks.check));
    expect(checks.running()).toBe(2);
    await checks.finishAll(false);
    const settled = await Promise.all(results);
    expect(checks.started()).toBe(10);
    expect(settled.filter((r) => 'outcome' in r && r.outcome === 'failed')).toHaveLength(10);
    expect(settled.filter((r) => 'refused' in r && r.refused === 'auth-throttled')).toHaveLength(190);
  });

  it('bounds guesses across many ids from one address by the address budget', async () => {
    const gate = createAuthGate({ budget: 10, refillMs: 6000, concurrency: 2, maxQueued: 1000, now: () => 0 });
    const checks = controlledChecks();
    const results = Array.from({ length: 300 }, (_, i) => gate.run(attempt('10.0.0.1', `guess-${i}`), checks.check));
    await checks.finishAll(false);
    await Promise.all(results);
    expect(checks.started()).toBe(10 * ADDRESS_SHARE);
  });

  it('never runs more checks at once than its concurrency, and serves addresses round-robin', async () => {
    const gate = createAuthGate({ budget: 100, refillMs: 6000, concurrency: 2, maxQueued: 1000, now: () => 0 });
    const order: string[] = [];
    const pending: (() => void)[] = [];
    const check = (address: string) => () =>
      new Promise<boolean>((resolve) => {
        order.push(address);
        pending.push(() => resolve(true));
      });
    const storm = Array.from({ length: 20 }, (_, i) => gate.run(attempt('10.0.0.66', `bot-${i}`), check('storm')));
    const good = gate.run(attempt('10.0.0.2', 'meter-2'), check('good'));
    expect(pending).toHaveLength(2);
    pending.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    // The first slot that frees goes to the other address, not to the 19th login of the storm.
    expect(order.slice(0, 3)).toEqual(['storm', 'storm', 'good']);
    while (pending.length > 0) {
      pending.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await good).toEqual({ outcome: 'succeeded' });
    expect((await Promise.all(storm)).every((r) => 'outcome' in r)).toBe(true);
  });

  it('refuses with auth-queue-full beyond its queue and drops logins whose connection is gone', async () => {
    const gate = createAuthGate({ budget: 100, refillMs: 6000, concurrency: 1, maxQueued: 3, now: () => 0 });
    const checks = controlledChecks();
    let goneNow = false;
    const first = gate.run(attempt('a', 'd1'), checks.check);
    const queued = [gate.run(attempt('a', 'd2', () => goneNow), checks.check), gate.run(attempt('a', 'd3'), checks.check)];
    const waiting = gate.run(attempt('b', 'd4'), checks.check);
    expect(await gate.run(attempt('b', 'd5'), checks.check)).toEqual({ refused: 'auth-queue-full', retryAfterMs: 1000 });
    goneNow = true;
    await checks.finishAll(true);
    expect(await first).toEqual({ outcome: 'succeeded' });
    expect(await queued[0]).toEqual({ abandoned: true });
    expect(await queued[1]).toEqual({ outcome: 'succeeded' });
    expect(await waiting).toEqual({ outcome: 'succeeded' });
    expect(checks.started()).toBe(3);
  });

  it('trusts a device at the address it logged in from: a storm of wrong secrets there does not lock it out', async () => {
    const gate = createAuthGate({ budget: 3, refillMs: 60_000, concurrency: 1, maxQueued: 100, now: () => 0 });
    const ok = controlledChecks();
    const good = gate.run(attempt('10.0.0.1', 'meter-1'), ok.check);
    await ok.finishAll(true);
    expect(await good).toEqual({ outcome: 'succeeded' });
    const bad = controlledChecks();
    const storm = Array.from({ length: 50 }, (_, i) => gate.run(attempt('10.0.0.1', `bot-${i % 5}`), bad.check));
    await bad.finishAll(false);
    await Promise.all(storm);
    const again = controlledChecks();
    const second = gate.run(attempt('10.0.0.1', 'meter-1'), again.check);
    await again.finishAll(true);
    expect(await second).toEqual({ outcome: 'succeeded' });
    // The same id from an address it never used shares that address's spent budget.
    expect(await gate.run(attempt('10.0.0.9', 'bot-0'), again.check)).toMatchObject({ refused: 'auth-throttled' });
  });

  it('forgives one failure per refill interval and reports when the next login is checked', async () => {
    let now = 0;
    const gate = createAuthGate({ budget: 2, refillMs: 1000, concurrency: 1, maxQueued: 100, now: () => now });
    const checks = controlledChecks();
    const tries = [gate.run(attempt('a', 'd'), checks.check), gate.run(attempt('a', 'd'), checks.check)];
    await checks.finishAll(false);
    await Promise.all(tries);
    expect(gate.failuresOf('d')).toBe(2);
    expect(await gate.run(attempt('a', 'd'), checks.check)).toEqual({ refused: 'auth-throttled', retryAfterMs: 1000 });
    now = 1000;
    const later = gate.run(attempt('a', 'd'), checks.check);
    await checks.finishAll(true);
    expect(await later).toEqual({ outcome: 'succeeded' });
    expect(gate.failuresOf('d')).toBe(0);
  });
});
