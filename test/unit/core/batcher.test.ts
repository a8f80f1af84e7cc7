import { describe, expect, it } from 'vitest';
import { createBatcher } from '../../../core/batcher.js';
import { sluiceError } from '../../../core/errors.js';

describe('createBatcher', () => {
  it('collects items from many callers into one flush', async () => {
    const flushed: number[][] = [];
    const batcher = createBatcher<number>({ lingerMs: 5, maxBatchItems: 100, maxPendingItems: 1000, flush: async (items) => void flushed.push(items) });
    await Promise.all([batcher.add([1, 2]), batcher.add([3]), batcher.add([4, 5])]);
    expect(flushed).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('splits at maxBatchItems and resolves each caller only when its items are flushed', async () => {
    const flushed: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batcher = createBatcher<number>({
      lingerMs: 0,
      maxBatchItems: 2,
      maxPendingItems: 100,
      flush: async (items) => {
        flushed.push(items);
        if (flushed.length === 2) await gate;
      },
    });
    const first = batcher.add([1, 2]);
    const second = batcher.add([3, 4]);
    let secondDone = false;
    void second.then(() => (secondDone = true));
    await first;
    await expect.poll(() => flushed.length).toBe(2);
    expect(secondDone).toBe(false);
    release();
    await second;
    expect(flushed).toEqual([[1, 2], [3, 4]]);
  });

  it('retries a failed flush with the same items before sending newer ones', async () => {
    const attempts: number[][] = [];
    let failures = 2;
    const recovered: number[] = [];
    const batcher = createBatcher<number>({
      lingerMs: 0,
      maxBatchItems: 10,
      maxPendingItems: 100,
      retryDelayMs: () => 1,
      flush: async (items) => {
        attempts.push(items);
        if (failures-- > 0) throw sluiceError('KAFKA_UNAVAILABLE', 'down', { retriable: true });
      },
      onRecovered: (_ms, count) => recovered.push(count),
    });
    const first = batcher.add([1]);
    const second = batcher.add([2]);
    await Promise.all([first, second]);
    expect(attempts[0]).toEqual([1]);
    expect(attempts[1]).toEqual([1]);
    expect(attempts[2]).toEqual([1]);
    expect(attempts.slice(3).flat()).toEqual([2]);
    expect(recovered).toEqual([2]);
  });

  it('fails the callers of a batch whose error is not retriable', async () => {
    const batcher = createBatcher<number>({
      lingerMs: 0,
      maxBatchItems: 10,
      maxPendingItems: 100,
      flush: async () => {
        throw sluiceError('STORE_REJECTED', 'no', { retriable: false });
      },
    });
    await expect(batcher.add([1])).rejects.toMatchObject({ code: 'STORE_REJECTED' });
  });

  it('makes add wait while maxPendingItems are outstanding (backpressure)', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batcher = createBatcher<number>({ lingerMs: 0, maxBatchItems: 10, maxPendingItems: 2, flush: () => gate });
    const first = batcher.add([1, 2]);
    let admitted = false;
    const second = batcher.add([3]).then(() => (admitted = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batcher.pending()).toBe(2);
    expect(admitted).toBe(false);
    release();
    await first;
    await second;
    expect(admitted).toBe(true);
  });

  it('abort fails a batch that is being retried with CLOSED', async () => {
    const batcher = createBatcher<number>({
      lingerMs: 0,
      maxBatchItems: 10,
      maxPendingItems: 100,
      retryDelayMs: () => 60_000,
      flush: async () => {
        throw new Error('down');
      },
    });
    const pending = batcher.add([1]);
    await new Promise((resolve) => setImmediate(resolve));
    batcher.abort();
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('keeps callers in arrival order under backpressure: a waiting caller is never overtaken', async () => {
    const flushed: number[] = [];
    let release: () => void = () => undefined;
    let gate = new Promise<void>((resolve) => (release = resolve));
    const batcher = createBatcher<number>({
      lingerMs: 0,
      maxBatchItems: 2,
      maxPendingItems: 2,
      flush: async (items) => {
        await gate;
        flushed.push(...items);
      },
    });
    const all = [batcher.add([0, 1])];
    for (let i = 2; i < 12; i++) {
      all.push(batcher.add([i]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Let batches through one at a time, with new callers arriving as room appears.
    for (let round = 0; round < 8; round++) {
      const previous = release;
      gate = new Promise<void>((resolve) => (release = resolve));
      previous();
      all.push(batcher.add([100 + round]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    release();
    const finish = setInterval(() => release(), 1);
    await Promise.all(all);
    clearInterval(finish);
    expect(flushed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 100, 101, 102, 103, 104, 105, 106, 107]);
  });
});
