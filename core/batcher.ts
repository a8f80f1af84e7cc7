import { isSluiceError, sluiceError, ErrorCodes } from './errors.js';
import { backoffDelay, type BackoffOptions } from './retry.js';

export interface BatcherOptions<T> {
  /** How long the first item of a batch may wait for company. */
  lingerMs: number;
  maxBatchItems: number;
  /** Items accepted but not yet flushed; past it `add` waits, which is the backpressure to the caller. */
  maxPendingItems: number;
  flush: (items: T[]) => Promise<void>;
  /** Delay before retrying a failed flush; grows with each attempt and may depend on the error. */
  retryDelayMs?: (attempt: number, error: unknown) => number;
  onFlushError?: (error: unknown, attempt: number) => void;
  onRecovered?: (failedForMs: number, attempts: number) => void;
}

export interface Batcher<T> {
  /** Resolves when a flush containing every item has succeeded. */
  add(items: T[]): Promise<void>;
  pending(): number;
  /** Flushes what is queued, then refuses new items. */
  close(): Promise<void>;
  /** Gives up: a flush being retried and everything queued fail with CLOSED. */
  abort(): void;
}

/** Between flush retries when the caller names no delay: 100 ms doubling up to 5 s. */
const DEFAULT_RETRY_BACKOFF: Readonly<BackoffOptions> = { initialMs: 100, maxMs: 5000 };

interface Waiter {
  /** Absolute sequence number of the caller's last item + 1: done once a flush covers it. */
  until: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * A FIFO of items with an advancing head instead of `shift`/`slice`, so taking a batch costs the batch,
 * not the whole backlog. Compacted when the consumed prefix is large.
 */
function createQueue<T>() {
  let items: T[] = [];
  let head = 0;
  return {
    get length() {
      return items.length - head;
    },
    peek(): T | undefined {
      return items[head];
    },
    push(values: T[]) {
      for (const value of values) items.push(value);
    },
    take(count: number): T[] {
      const taken = items.slice(head, head + count);
      head += taken.length;
      if (head > 4096 && head * 2 > items.length) {
        items = items.slice(head);
        head = 0;
      }
      return taken;
    },
    clear() {
      items = [];
      head = 0;
    },
  };
}

/**
 * Collects items from many callers into one flush, at most one flush at a time. While a flush is out,
 * the next batch fills up, so batches grow by themselves under load and stay small when it is quiet.
 * A failed flush is retried with the same items, in order, before anything newer is sent: nothing is
 * dropped and nothing overtakes.
 */
export function createBatcher<T>(options: BatcherOptions<T>): Batcher<T> {
  const retryDelay = options.retryDelayMs ?? ((attempt: number) => backoffDelay(attempt, DEFAULT_RETRY_BACKOFF));
  const queue = createQueue<T>();
  const waiters = createQueue<Waiter>();
  /** Items ever queued, and ever taken into a flush: waiters compare against these. */
  let enqueuedSeq = 0;
  let takenSeq = 0;
  let pendingCount = 0;
  let flushing = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let aborted = false;
  // First come, first served: a caller that had to wait is never overtaken by a later one, which keeps
  // each device's readings in publish order even under backpressure.
  const roomWaiters = createQueue<{ count: number; resolve: () => void }>();
  let idleWaiters: (() => void)[] = [];
  let cancelRetry: (() => void) | undefined;

  function schedule(): void {
    if (flushing || queue.length === 0) return;
    if (queue.length >= options.maxBatchItems || options.lingerMs === 0 || closed) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      void flushNext();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = undefined;
        void flushNext();
      }, options.lingerMs);
    }
  }

  /** The waiters whose last item is at or before `upTo`, in order. */
  function collectDone(upTo: number): Waiter[] {
    const done: Waiter[] = [];
    while (waiters.length > 0 && waiters.peek()!.until <= upTo) done.push(...waiters.take(1));
    return done;
  }

  async function flushNext(): Promise<void> {
    if (flushing || queue.length === 0) return;
    flushing = true;
    const items = queue.take(options.maxBatchItems);
    takenSeq += items.length;
    const done = collectDone(takenSeq);
    let attempt = 0;
    let failingSince: number | undefined;
    for (;;) {
      try {
        await options.flush(items);
        if (failingSince !== undefined) options.onRecovered?.(Date.now() - failingSince, attempt);
        for (const w of done) w.resolve();
        break;
      } catch (error) {
        const retriable = !isSluiceError(error) || error.retriable;
        if (!retriable || aborted) {
          for (const w of done) w.reject(error);
          break;
        }
        failingSince ??= Date.now();
        options.onFlushError?.(error, attempt);
        const cancelled = await sleepUnlessCancelled(retryDelay(attempt, error));
        attempt++;
        if (cancelled) {
          const closedError = sluiceError(ErrorCodes.CLOSED, 'batcher closed while retrying', { cause: error });
          for (const w of done) w.reject(closedError);
          break;
        }
      }
    }
    pendingCount -= items.length;
    flushing = false;
    admitWaiters();
    if (queue.length === 0) {
      const idle = idleWaiters;
      idleWaiters = [];
      for (const resolve of idle) resolve();
    }
    schedule();
  }

  /** Reserves room for queued callers in order, as long as there is room. */
  function admitWaiters(): void {
    while (roomWaiters.length > 0 && pendingCount < options.maxPendingItems) {
      const [next] = roomWaiters.take(1);
      pendingCount += next!.count;
      next!.resolve();
    }
  }

  function releaseAllRoomWaiters(): void {
    for (const waiter of roomWaiters.take(roomWaiters.length)) {
      pendingCount += waiter.count;
      waiter.resolve();
    }
  }

  function sleepUnlessCancelled(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        cancelRetry = undefined;
        resolve(false);
      }, ms);
      cancelRetry = () => {
        clearTimeout(t);
        cancelRetry = undefined;
        resolve(true);
      };
    });
  }

  return {
    async add(items) {
      if (closed) throw sluiceError(ErrorCodes.CLOSED, 'batcher is closed');
      if (items.length === 0) return;
      if (roomWaiters.length > 0 || pendingCount >= options.maxPendingItems) {
        // Room is reserved for us (pendingCount includes our items) before we are woken.
        await new Promise<void>((resolve) => roomWaiters.push([{ count: items.length, resolve }]));
        if (closed) {
          pendingCount -= items.length;
          throw sluiceError(ErrorCodes.CLOSED, 'batcher is closed');
        }
      } else {
        pendingCount += items.length;
      }
      queue.push(items);
      enqueuedSeq += items.length;
      const until = enqueuedSeq;
      const done = new Promise<void>((resolve, reject) => waiters.push([{ until, resolve, reject }]));
      schedule();
      return done;
    },
    pending: () => pendingCount,
    abort() {
      aborted = true;
      closed = true;
      cancelRetry?.();
      const closedError = sluiceError(ErrorCodes.CLOSED, 'batcher aborted');
      for (const w of collectDone(Number.POSITIVE_INFINITY)) w.reject(closedError);
      pendingCount -= queue.length;
      queue.clear();
      releaseAllRoomWaiters();
      for (const resolve of idleWaiters.splice(0)) resolve();
    },
    async close() {
      closed = true;
      releaseAllRoomWaiters();
      if (queue.length > 0 || flushing) {
        await new Promise<void>((resolve) => {
          idleWaiters.push(resolve);
          schedule();
        });
      }
    },
  };
}
