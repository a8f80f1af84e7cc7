import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { Reading } from '../core/reading.js';
import type { ReadingStore, Sink, SinkRefusal, StreamAssignment, StreamBus, StreamProducer, Writer } from '../core/seams.js';
import { isSluiceError, ErrorCodes } from '../core/errors.js';
import { createSinkLoop, groupVerdict, type GroupVerdict } from './sink-loop.js';

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

export type WriterGroupVerdict = GroupVerdict;

/** Whether the writer group reads every telemetry partition (groupVerdict, consumers/sink-loop.ts). */
export function writerGroupVerdict(assignment: StreamAssignment): WriterGroupVerdict {
  return groupVerdict(assignment, 'writer group', 'give each deployment its own group (the default group id includes KAFKA_TOPIC_PREFIX; check KAFKA_WRITER_GROUP)');
}

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

/**
 * The store as a sink: a write stores the readings, and the ones the store refuses (a field type conflict) come back
 * as refusals with the store's message. Writing the same reading twice is one point in the store (same series and
 * timestamp), so the loop's re-deliveries do not duplicate.
 */
export function createStoreSink(store: ReadingStore, batchSize: number): Sink {
  return {
    name: 'store',
    // Line protocol is built from the readings, not their JSON: only the point count bounds a write.
    limits: { maxRecords: batchSize, maxBytes: Number.MAX_SAFE_INTEGER },
    async write(records) {
      const indexOf = new Map<Reading, number>(records.map((record, index) => [record.reading, index]));
      const refused: SinkRefusal[] = [];
      await writeSplittingRefused(
        store,
        records.map((record) => record.reading),
        async (reading, storeMessage) => void refused.push({ index: indexOf.get(reading)!, reason: storeMessage }),
      );
      return { refused };
    },
    ping: () => store.ping(),
    health: () => ({ connected: true }),
    close: async () => undefined,
  };
}

/**
 * The store writer: the sink loop (consumers/sink-loop.ts) with the store as its sink. Batches of all partitions are
 * merged into store writes of up to `batchSize` points; a partition's offsets are committed only after its points
 * were written, so a crash or an outage re-delivers instead of losing.
 */
export function createWriter(options: WriterOptions, deps: WriterDeps): Writer {
  const loop = createSinkLoop(
    {
      groupId: options.groupId,
      concurrency: options.concurrency,
      batchRecords: options.batchSize,
      lingerMs: options.flushMs,
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      ...(options.maxRetryDelayMs !== undefined ? { maxRetryDelayMs: options.maxRetryDelayMs } : {}),
      ...(options.unauthorizedRetryMs !== undefined ? { unauthorizedRetryMs: options.unauthorizedRetryMs } : {}),
    },
    { bus: deps.bus, sink: createStoreSink(deps.store, options.batchSize), deadLetters: deps.deadLetters, logger: deps.logger, metrics: deps.metrics },
  );
  return { start: () => loop.start(), status: () => loop.status(), close: () => loop.close() };
}
