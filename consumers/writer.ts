import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeadLetter, Reading } from '../core/reading.js';
import type { ReadingStore, RecordBatch, StreamBus, StreamConsumer, StreamProducer } from '../core/seams.js';
import { createBatcher, type Batcher } from '../core/batcher.js';
import { isSluiceError, ErrorCodes } from '../core/errors.js';
import { decodeReadings } from './decode.js';

export interface WriterOptions {
  groupId: string;
  /** Partitions handled at once; their batches are merged into shared writes. */
  concurrency: number;
  /** Points per store write at most. */
  batchSize: number;
  /** Longest a reading waits for company before it is written. */
  flushMs: number;
  /** First retry delay after a failed write; doubles up to `maxRetryDelayMs`, with jitter. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Retry pace while the store refuses our credentials: nothing will change until someone fixes them. */
  unauthorizedRetryMs?: number;
}

export interface WriterDeps {
  bus: StreamBus;
  store: ReadingStore;
  /** Where readings the store refuses go, with the store's reason. */
  deadLetters: StreamProducer;
  logger: Logger;
  metrics: Metrics;
}

export interface WriterStatus {
  state: 'starting' | 'writing' | 'retrying' | 'unauthorized' | 'stopped';
  lastError?: string;
  failingSince?: number;
}

export interface Writer {
  start(): Promise<void>;
  status(): WriterStatus;
  close(): Promise<void>;
}

/**
 * The store writer: a consumer group over the telemetry stream. Batches of all partitions are merged into
 * store writes of up to `batchSize` points; a partition's offsets are committed only after its points
 * were written, so a crash or an outage re-delivers instead of losing. Writing the same reading twice is
 * one point in the store (same series and timestamp), so re-delivery does not duplicate.
 */
/**
 * Writes readings; when the store refuses the batch, splits it in halves until the refused readings are
 * found, hands each to `onRefused` with the store's message, and writes the rest. Rewriting points the
 * store already accepted is harmless (same series and timestamp). Other errors propagate to be retried.
 */
export async function writeSplittingRefused(
  store: ReadingStore,
  readings: Reading[],
  onRefused: (reading: Reading, storeMessage: string) => Promise<void>,
): Promise<void> {
  try {
    await store.write(readings);
  } catch (error) {
    if (!isSluiceError(error) || error.code !== ErrorCodes.STORE_REJECTED) throw error;
    if (readings.length === 1) {
      await onRefused(readings[0]!, (error.details?.storeMessage as string | undefined) ?? error.message);
      return;
    }
    const middle = readings.length >> 1;
    await writeSplittingRefused(store, readings.slice(0, middle), onRefused);
    await writeSplittingRefused(store, readings.slice(middle), onRefused);
  }
}

export function createWriter(options: WriterOptions, deps: WriterDeps): Writer {
  const log = deps.logger.child({ module: 'writer' });
  const baseDelay = options.retryDelayMs ?? 250;
  const maxDelay = options.maxRetryDelayMs ?? 15_000;
  const unauthorizedDelay = options.unauthorizedRetryMs ?? 30_000;
  let consumer: StreamConsumer | undefined;
  const status: WriterStatus = { state: 'starting' };

  const batcher: Batcher<Reading> = createBatcher<Reading>({
    lingerMs: options.flushMs,
    maxBatchItems: options.batchSize,
    // Bounded by what Kafka hands us per partition fetch; the batcher only merges, it never buffers ahead.
    maxPendingItems: Number.MAX_SAFE_INTEGER,
    flush: async (readings) => {
      const started = performance.now();
      await writeOrDeadLetter(readings);
      deps.metrics.storeWriteSeconds.observe((performance.now() - started) / 1000);
      deps.metrics.storeWrites.inc(readings.length);
    },
    retryDelayMs: (attempt, error) => {
      if (isSluiceError(error) && error.code === ErrorCodes.STORE_UNAUTHORIZED) return unauthorizedDelay;
      const retryAfterMs = isSluiceError(error) ? (error.details?.retryAfterMs as number | undefined) : undefined;
      const ceiling = Math.min(maxDelay, baseDelay * 2 ** attempt);
      // Jitter: writers retrying together must not hit a recovering store in lockstep.
      const backoff = ceiling / 2 + Math.random() * (ceiling / 2);
      return retryAfterMs !== undefined ? Math.max(retryAfterMs, backoff) : backoff;
    },
    onFlushError: (error) => {
      deps.metrics.storeRetries.inc();
      const unauthorized = isSluiceError(error) && error.code === ErrorCodes.STORE_UNAUTHORIZED;
      const message = (error as Error).message;
      // One line when an outage starts (or changes kind), not one per retry.
      if (status.state === 'writing' || status.state === 'starting' || (unauthorized && status.state !== 'unauthorized')) {
        log.error({ err: message }, unauthorized ? 'store refuses our credentials; readiness is red, retrying slowly' : 'store write failed; holding offsets and retrying');
        status.failingSince ??= Date.now();
      }
      status.state = unauthorized ? 'unauthorized' : 'retrying';
      status.lastError = message;
    },
    onRecovered: (failedForMs, attempts) => {
      log.warn({ outageMs: failedForMs, attempts }, 'store writes succeed again');
      status.state = 'writing';
      delete status.lastError;
      delete status.failingSince;
    },
  });

  const writeOrDeadLetter = (readings: Reading[]) => writeSplittingRefused(deps.store, readings, deadLetter);

  async function deadLetter(reading: Reading, storeMessage: string): Promise<void> {
    deps.metrics.rejections.inc({ code: ErrorCodes.STORE_REJECTED });
    log.warn({ deviceId: reading.deviceId, metric: reading.metric, storeMessage }, 'store refused a reading (dead-lettered)');
    const letter: DeadLetter = {
      deviceId: reading.deviceId,
      code: ErrorCodes.STORE_REJECTED,
      reason: `the store refused this reading: ${storeMessage}`,
      topic: `devices/${reading.deviceId}/telemetry`,
      payload: Buffer.from(JSON.stringify(reading)).toString('base64'),
      payloadBytes: Buffer.byteLength(JSON.stringify(reading)),
      receivedAt: reading.receivedAt,
    };
    await deps.deadLetters.send('deadletter', [{ key: reading.deviceId, value: JSON.stringify(letter), timestamp: Date.now() }]);
  }

  async function handle(batch: RecordBatch): Promise<void> {
    const { readings, invalid } = decodeReadings(batch.records);
    if (invalid.length > 0) {
      log.warn({ partition: batch.partition, count: invalid.length, firstOffset: invalid[0]!.offset }, 'skipped records that are not readings');
    }
    if (readings.length === 0) return;
    // While the store is down the write waits; heartbeats keep this member in its group meanwhile, so
    // the partitions are paused here rather than handed to another writer that would hit the same wall.
    const heartbeats = setInterval(() => void batch.heartbeat().catch(() => undefined), 3000);
    try {
      await batcher.add(readings);
    } finally {
      clearInterval(heartbeats);
    }
  }

  return {
    async start() {
      consumer = deps.bus.createConsumer({
        groupId: options.groupId,
        streams: ['telemetry'],
        from: 'earliest',
        concurrency: options.concurrency,
        // Readings wait up to flushMs for a store write anyway; fetching more at once costs less per reading.
        fetchWaitMs: Math.min(options.flushMs, 100),
      });
      await consumer.run(handle);
      if (status.state === 'starting') status.state = 'writing';
    },
    status: () => ({ ...status }),
    async close() {
      // Stop fetching first, then let the last merged write finish so its offsets can be committed.
      const closing = consumer?.close();
      await batcher.close();
      await closing;
      status.state = 'stopped';
    },
  };
}
