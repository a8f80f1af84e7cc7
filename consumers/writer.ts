import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { Reading } from '../core/reading.js';
import { createDeadLetter, decodeReadings, encodeDeadLetter, encodeReading } from '../core/records.js';
import type { ReadingStore, RecordBatch, StreamAssignment, StreamBus, StreamConsumer, StreamProducer, Writer, WriterStatus } from '../core/seams.js';
import { createBatcher, type Batcher } from '../core/batcher.js';
import { isSluiceError, ErrorCodes } from '../core/errors.js';
import { telemetryTopic } from '../core/topics.js';
import { backoffDelay, HALF_JITTER, type BackoffOptions } from '../core/retry.js';

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

export interface WriterGroupVerdict {
  /** False when telemetry partitions go unread, or may: readiness turns red. */
  ready: boolean;
  /** Why not ready, or why ready while holding nothing (a member standing by). */
  note?: string;
}

const SHARED_GROUP_HINT = 'give each deployment its own group (the default group id includes KAFKA_TOPIC_PREFIX; check KAFKA_WRITER_GROUP)';

/**
 * Whether the writer group reads every telemetry partition, judged from this member's assignment at the latest
 * join. A member holding nothing is fine when the group has more members than partitions (`--scale` past the
 * partition count: it stands by and takes over when a member leaves), and not when the group id is shared with
 * consumers of other topics: then partitions are handed to members that drop them, unread, and readings pile
 * up in Kafka unstored. When the group could not be inspected, a member holding nothing is not ready.
 */
export function writerGroupVerdict(assignment: StreamAssignment): WriterGroupVerdict {
  const group = `writer group ${assignment.groupId}`;
  const inspected = assignment.members !== undefined && assignment.streams.every((s) => s.unread !== undefined);
  const unread = assignment.streams.filter((s) => (s.unread?.length ?? 0) > 0);
  const unreadText = unread.map((s) => `partition${s.unread!.length === 1 ? '' : 's'} ${s.unread!.join(', ')} of ${s.topic}`).join(' and ');
  const held = assignment.streams.reduce((n, s) => n + s.assigned.length, 0);
  const available = assignment.streams.reduce((n, s) => n + s.partitions, 0);
  const sizes = assignment.streams.map((s) => `${s.topic} has ${s.partitions}`).join(', ');
  const mine = assignment.streams.map((s) => `${s.assigned.length ? s.assigned.join(', ') : 'none'} of the ${s.partitions} of ${s.topic}`).join('; ');

  if (assignment.foreignTopics.length > 0) {
    const loss = unread.length > 0 ? `${unreadText} ${unread.length === 1 && unread[0]!.unread!.length === 1 ? 'is' : 'are'} read by no one` : `this member reads ${mine}`;
    return {
      ready: false,
      note: `${group} is shared with consumers of other topics (${assignment.foreignTopics.join(', ')}), probably another deployment: ${loss}; ${SHARED_GROUP_HINT}`,
    };
  }
  if (unread.length > 0) {
    return { ready: false, note: `${group} leaves ${unreadText} unread: no member holds them` };
  }
  if (held === 0 && available > 0) {
    if (inspected) {
      return {
        ready: true,
        note: `${group} has no partitions for this member: its ${assignment.members} members share ${available === 1 ? 'the 1 partition' : `the ${available} partitions`} (${sizes}), so it stands by and takes over when a member leaves`,
      };
    }
    return {
      ready: false,
      note: `${group} has no partitions assigned although ${sizes}: another consumer group member with other topics may share this group id, or the group has more members than partitions and this member stands by (the group could not be described to tell which); if shared, ${SHARED_GROUP_HINT}`,
    };
  }
  return { ready: true };
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
  // Jitter: writers retrying together must not hit a recovering store in lockstep.
  const backoff: BackoffOptions = { initialMs: options.retryDelayMs ?? 250, maxMs: options.maxRetryDelayMs ?? 15_000, jitter: HALF_JITTER };
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
      const delay = backoffDelay(attempt, backoff);
      return retryAfterMs !== undefined ? Math.max(retryAfterMs, delay) : delay;
    },
    onFlushError: (error) => {
      deps.metrics.storeRetries.inc();
      const unauthorized = isSluiceError(error) && error.code === ErrorCodes.STORE_UNAUTHORIZED;
      // One line when an outage starts (or changes kind), not one per retry.
      if (status.state === 'writing' || status.state === 'starting' || (unauthorized && status.state !== 'unauthorized')) {
        log.error({ err: error }, unauthorized ? 'store refuses our credentials; readiness is red, retrying slowly' : 'store write failed; holding offsets and retrying');
        status.failingSince ??= Date.now();
      }
      status.state = unauthorized ? 'unauthorized' : 'retrying';
      status.lastError = (error as Error).message;
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
    // The payload kept is the reading's telemetry record: what the writer was given.
    const letter = createDeadLetter({
      deviceId: reading.deviceId,
      code: ErrorCodes.STORE_REJECTED,
      reason: `the store refused this reading: ${storeMessage}`,
      topic: telemetryTopic(reading.deviceId),
      payload: Buffer.from(encodeReading(reading).value),
      receivedAt: reading.receivedAt,
    });
    await deps.deadLetters.send('deadletter', [encodeDeadLetter(letter, Date.now())]);
  }

  /** After each join of the group: readiness follows the verdict, and a change of verdict is logged once. */
  function onAssignment(assignment: StreamAssignment): void {
    const verdict = writerGroupVerdict(assignment);
    const before = status.group;
    status.group = { id: assignment.groupId, ready: verdict.ready, ...(verdict.note ? { note: verdict.note } : {}) };
    if (before && before.ready === verdict.ready && before.note === verdict.note) return;
    const fields = {
      groupId: assignment.groupId,
      assigned: Object.fromEntries(assignment.streams.map((s) => [s.topic, s.assigned])),
      partitions: Object.fromEntries(assignment.streams.map((s) => [s.topic, s.partitions])),
      ...(assignment.members !== undefined ? { members: assignment.members } : {}),
      ...(assignment.foreignTopics.length > 0 ? { foreignTopics: assignment.foreignTopics } : {}),
    };
    if (!verdict.ready) log.warn(fields, `not ready: ${verdict.note}`);
    else if (verdict.note) log.info(fields, verdict.note);
    else if (before && !before.ready) log.info(fields, `writer group ${assignment.groupId} reads every partition again`);
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
        onAssignment,
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
