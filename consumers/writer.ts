import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { ReadingStore, RecordBatch, StreamBus, StreamConsumer } from '../core/seams.js';
import { isSluiceError } from '../core/errors.js';
import { decodeReadings } from './decode.js';

export interface WriterOptions {
  groupId: string;
  /** First retry delay after a failed write; doubles up to `maxRetryDelayMs`, with jitter. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

export interface WriterDeps {
  bus: StreamBus;
  store: ReadingStore;
  logger: Logger;
  metrics: Metrics;
}

export interface WriterState {
  state: 'starting' | 'writing' | 'retrying' | 'stopped';
  lastError?: string;
  failingSince?: number;
}

export interface Writer {
  start(): Promise<void>;
  status(): WriterState;
  close(): Promise<void>;
}

/**
 * The store writer: a consumer group over the telemetry stream. A batch's offsets are committed only
 * after its points were written, so a crash or an outage re-delivers instead of losing; writing the
 * same reading twice is one point in the store, so re-delivery does not duplicate.
 */
export function createWriter(options: WriterOptions, deps: WriterDeps): Writer {
  const log = deps.logger.child({ module: 'writer' });
  const baseDelay = options.retryDelayMs ?? 250;
  const maxDelay = options.maxRetryDelayMs ?? 15_000;
  let consumer: StreamConsumer | undefined;
  let stopping = false;
  let wakeFromRetry: (() => void) | undefined;
  const state: WriterState = { state: 'starting' };

  async function handle(batch: RecordBatch): Promise<void> {
    const { readings, invalid } = decodeReadings(batch.records);
    if (invalid.length > 0) {
      log.warn({ partition: batch.partition, count: invalid.length, firstOffset: invalid[0]!.offset }, 'skipped records that are not readings');
    }
    let attempt = 0;
    for (;;) {
      const started = performance.now();
      try {
        await deps.store.write(readings);
        deps.metrics.storeWriteSeconds.observe((performance.now() - started) / 1000);
        deps.metrics.storeWrites.inc(readings.length);
        if (state.state === 'retrying') {
          log.warn({ outageMs: Date.now() - (state.failingSince ?? Date.now()), attempts: attempt }, 'store writes succeed again');
        }
        state.state = 'writing';
        delete state.lastError;
        delete state.failingSince;
        return;
      } catch (error) {
        if (stopping) throw error;
        deps.metrics.storeRetries.inc();
        const message = (error as Error).message;
        if (state.state !== 'retrying') {
          log.error({ err: error, retriable: isSluiceError(error) ? error.retriable : true }, 'store write failed; holding offsets and retrying');
          state.failingSince = Date.now();
        }
        state.state = 'retrying';
        state.lastError = message;
        await pause(backoff(attempt));
        attempt++;
        if (stopping) throw error;
      }
    }
  }

  function backoff(attempt: number): number {
    const ceiling = Math.min(maxDelay, baseDelay * 2 ** attempt);
    // Full jitter: many writers retrying together must not hit the store in lockstep.
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeFromRetry = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  return {
    async start() {
      consumer = deps.bus.createConsumer({ groupId: options.groupId, streams: ['telemetry'], from: 'earliest' });
      await consumer.run(handle);
      state.state = 'writing';
    },
    status: () => ({ ...state }),
    async close() {
      stopping = true;
      wakeFromRetry?.();
      await consumer?.close();
      state.state = 'stopped';
    },
  };
}
