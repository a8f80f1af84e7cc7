import { setInterval as every } from 'node:timers/promises';

/**
 * Polls `probe` until it returns a value (not undefined) or the deadline passes, for waits outside a
 * vitest test body (service start-up in support code), where `expect.poll` is not available.
 */
export async function waitUntil<T>(probe: () => Promise<T | undefined>, options: { timeoutMs: number; intervalMs?: number; what: string }): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for await (const _ of every(options.intervalMs ?? 100, undefined, { ref: false })) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) break;
  }
  throw new Error(`${options.what} within ${options.timeoutMs} ms`);
}

/**
 * Drives a load at a fixed pace: `step` once every `everyMs` while `keepGoing()` holds. The pace is the
 * scenario (a steady stream of devices), not a wait for something to happen.
 */
export async function paced(everyMs: number, keepGoing: () => boolean, step: () => unknown): Promise<void> {
  if (!keepGoing()) return;
  await step();
  for await (const _ of every(everyMs)) {
    if (!keepGoing()) return;
    await step();
  }
}
