import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { createDeadLetter, decodeReading, encodeDeadLetter, readingIdOf } from '../core/records.js';
import type { RecordBatch, Sink, SinkRecord, SinkRefusal, SinkStatus, StreamAssignment, StreamBus, StreamConsumer, StreamProducer } from '../core/seams.js';
import { createBatcher, type Batcher } from '../core/batcher.js';
import { isSluiceError, sluiceError, ErrorCodes } from '../core/errors.js';
import { telemetryTopic } from '../core/topics.js';
import { backoffDelay, HALF_JITTER, type BackoffOptions } from '../core/retry.js';

/**
 * The one consume loop every sink runs on (docs/contracts.md §16): the store writer and each forward sink. A consumer
 * group over the telemetry stream; batches of all its partitions are merged into sink writes cut to the sink's limits;
 * a partition's offsets are committed only after the sink acknowledged its readings (or refused them for good and
 * they were dead-lettered), so a crash or an outage re-delivers instead of losing. A failed write is retried with
 * backoff, in order, before anything newer is written: per device, readings reach the sink in Kafka order.
 */

export interface SinkLoopOptions {
  groupId: string;
  /** Partitions handled at once; their batches are merged into shared writes. */
  concurrency: number;
  /** Records per write at most (never more than the sink's own limit). */
  batchRecords: number;
  /** Longest a reading waits for company before it is written. */
  lingerMs: number;
  /**
   * Readings taken from Kafka and not yet acknowledged by the sink, at most: past it a partition's handler waits, so
   * its fetches stop (memory stays bounded however long the sink is down). Default: four writes' worth.
   */
  maxInFlight?: number;
  /** First retry delay after a failed write; doubles up to `maxRetryDelayMs`, with jitter. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Retry pace while the sink refuses our credentials: nothing will change until someone fixes them. */
  unauthorizedRetryMs?: number;
  /** Longest close waits for the last write (default 10 s); what is not written by then stays in Kafka. */
  closeTimeoutMs?: number;
}

export interface SinkLoopDeps {
  bus: StreamBus;
  sink: Sink;
  /** Where readings the sink refuses go, with the sink's reason. */
  deadLetters: StreamProducer;
  logger: Logger;
  metrics: Metrics;
}

export interface SinkLoop {
  /** Joins the group and starts consuming; resolves once the group was joined. */
  start(): Promise<void>;
  status(): SinkStatus;
  close(): Promise<void>;
}

export interface GroupVerdict {
  /** False when telemetry partitions go unread, or may: readiness turns red. */
  ready: boolean;
  /** Why not ready, or why ready while holding nothing (a member standing by). */
  note?: string;
}

/**
 * Whether a sink's group reads every telemetry partition, judged from this member's assignment at the latest join. A
 * member holding nothing is fine when the group has more members than partitions (`--scale` past the partition
 * count: it stands by and takes over when a member leaves), and not when the group id is shared with consumers of
 * other topics: then partitions are handed to members that drop them, unread, and readings pile up in Kafka
 * undelivered. When the group could not be inspected, a member holding nothing is not ready. `label` names the group
 * in the note ("writer group", "rabbitmq sink group").
 */
export function groupVerdict(assignment: StreamAssignment, label: string, sharedGroupHint: string): GroupVerdict {
  const group = `${label} ${assignment.groupId}`;
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
      note: `${group} is shared with consumers of other topics (${assignment.foreignTopics.join(', ')}), probably another deployment: ${loss}; ${sharedGroupHint}`,
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
      note: `${group} has no partitions assigned although ${sizes}: another consumer group member with other topics may share this group id, or the group has more members than partitions and this member stands by (the group could not be described to tell which); if shared, ${sharedGroupHint}`,
    };
  }
  return { ready: true };
}

/** How a sink's group is named in notes and logs, and what to check when it is shared. */
function groupLabel(sink: Sink): { label: string; hint: string } {
  return sink.name === 'store'
    ? { label: 'writer group', hint: 'give each deployment its own group (the default group id includes KAFKA_TOPIC_PREFIX; check KAFKA_WRITER_GROUP)' }
    : { label: `${sink.name} sink group`, hint: 'give each deployment its own group (the default group id includes KAFKA_CLIENT_ID and KAFKA_TOPIC_PREFIX)' };
}

/** Splits records into runs that fit the sink's limits, in order; a record larger than maxBytes goes alone. */
export function cutToLimits(records: readonly SinkRecord[], limits: Sink['limits']): SinkRecord[][] {
  const runs: SinkRecord[][] = [];
  let run: SinkRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = record.json.length;
    if (run.length > 0 && (run.length >= limits.maxRecords || bytes + size > limits.maxBytes)) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(record);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * A write that failed is always retried: what a sink will never take comes back as a refusal, not as an error, so an
 * error is an outage however the sink marked it (a closed loop excepted).
 */
function retriedByTheLoop(error: unknown): unknown {
  if (!isSluiceError(error) || error.retriable || error.code === ErrorCodes.CLOSED) return error;
  return sluiceError(error.code, error.message, { retriable: true, cause: error, ...(error.details ? { details: error.details } : {}) });
}

export function createSinkLoop(options: SinkLoopOptions, deps: SinkLoopDeps): SinkLoop {
  const { sink, metrics } = deps;
  // The log lines keep the names operators know: the writer's, and the forwarder's with its sink.
  const log = deps.logger.child(sink.name === 'store' ? { module: 'writer' } : { module: 'forwarder', sink: sink.name });
  const labels = { sink: sink.name };
  // Jitter: members retrying together must not hit a recovering server in lockstep.
  const backoff: BackoffOptions = { initialMs: options.retryDelayMs ?? 250, maxMs: options.maxRetryDelayMs ?? 15_000, jitter: HALF_JITTER };
  const unauthorizedDelay = options.unauthorizedRetryMs ?? 30_000;
  const batchRecords = Math.max(1, Math.min(options.batchRecords, sink.limits.maxRecords));
  const maxInFlight = options.maxInFlight ?? batchRecords * 4;
  const limits = { maxRecords: batchRecords, maxBytes: sink.limits.maxBytes };
  const unauthorizedCodes: ReadonlySet<string> = new Set([ErrorCodes.SINK_UNAUTHORIZED, ErrorCodes.STORE_UNAUTHORIZED]);
  const isUnauthorized = (error: unknown) => isSluiceError(error) && unauthorizedCodes.has(error.code);
  let consumer: StreamConsumer | undefined;
  const status: SinkStatus = { sink: sink.name, groupId: options.groupId, state: 'starting', delivered: 0, refused: 0, inFlight: 0 };
  /** How many runs of a merged batch were delivered already: a retry after a partial failure resumes there. */
  const runsDone = new WeakMap<SinkRecord[], number>();

  const batcher: Batcher<SinkRecord> = createBatcher<SinkRecord>({
    lingerMs: options.lingerMs,
    maxBatchItems: batchRecords,
    maxPendingItems: maxInFlight,
    flush: async (records) => {
      const runs = cutToLimits(records, limits);
      for (let index = runsDone.get(records) ?? 0; index < runs.length; index++) {
        await writeRun(runs[index]!);
        runsDone.set(records, index + 1);
      }
    },
    retryDelayMs: (attempt, error) => {
      if (isUnauthorized(error)) return unauthorizedDelay;
      const retryAfterMs = isSluiceError(error) ? (error.details?.retryAfterMs as number | undefined) : undefined;
      const delay = backoffDelay(attempt, backoff);
      return retryAfterMs !== undefined ? Math.max(retryAfterMs, delay) : delay;
    },
    onFlushError: (error) => {
      metrics.sinkRetries.inc(labels);
      if (sink.name === 'store') metrics.storeRetries.inc();
      const unauthorized = isUnauthorized(error);
      // One line when an outage starts (or changes kind), not one per retry.
      if (status.state === 'writing' || status.state === 'starting' || (unauthorized && status.state !== 'unauthorized')) {
        log.error({ err: error }, unauthorized ? `${sink.name} refuses our credentials; readiness is red, retrying slowly` : `${sink.name} write failed; holding offsets and retrying`);
        status.failingSince ??= Date.now();
      }
      status.state = unauthorized ? 'unauthorized' : 'retrying';
      status.lastError = (error as Error).message;
      metrics.sinkFailing.set(labels, 1);
    },
    onRecovered: (failedForMs, attempts) => {
      log.warn({ outageMs: failedForMs, attempts }, `${sink.name} writes succeed again`);
      status.state = 'writing';
      delete status.lastError;
      delete status.failingSince;
      metrics.sinkFailing.set(labels, 0);
    },
  });

  async function writeRun(run: SinkRecord[]): Promise<void> {
    const started = performance.now();
    let refused: SinkRefusal[];
    try {
      ({ refused } = await sink.write(run));
    } catch (error) {
      throw retriedByTheLoop(error);
    }
    const seconds = (performance.now() - started) / 1000;
    metrics.sinkWriteSeconds.observe(labels, seconds);
    const refusedIndexes = new Set<number>();
    for (const refusal of refused) {
      const record = run[refusal.index];
      if (record === undefined || refusedIndexes.has(refusal.index)) continue;
      refusedIndexes.add(refusal.index);
      await deadLetter(record, refusal.reason);
    }
    const delivered = run.length - refusedIndexes.size;
    status.delivered += delivered;
    status.refused += refusedIndexes.size;
    metrics.sinkRecords.inc(labels, delivered);
    if (sink.name === 'store') {
      metrics.storeWriteSeconds.observe(seconds);
      metrics.storeWrites.inc(delivered);
    }
    let newest = status.lastDeliveredTs ?? 0;
    for (const record of run) if (record.reading.receivedAt > newest) newest = record.reading.receivedAt;
    status.lastDeliveredTs = newest;
  }

  async function deadLetter(record: SinkRecord, sinkReason: string): Promise<void> {
    const { reading } = record;
    const code = sink.name === 'store' ? ErrorCodes.STORE_REJECTED : ErrorCodes.SINK_REJECTED;
    const reason = sink.name === 'store' ? `the store refused this reading: ${sinkReason}` : `${sink.name} refused this reading: ${sinkReason}`;
    metrics.rejections.inc({ code });
    metrics.sinkRefused.inc(labels);
    log.warn({ deviceId: reading.deviceId, metric: reading.metric, sinkReason }, `${sink.name} refused a reading (dead-lettered)`);
    // The payload kept is the reading's telemetry record: what the sink was given.
    const letter = createDeadLetter({
      deviceId: reading.deviceId,
      code,
      reason,
      topic: telemetryTopic(reading.deviceId),
      payload: record.json,
      receivedAt: reading.receivedAt,
    });
    await deps.deadLetters.send('deadletter', [encodeDeadLetter(letter, Date.now())]);
  }

  /** After each join of the group: readiness follows the verdict, and a change of verdict is logged once. */
  function onAssignment(assignment: StreamAssignment): void {
    const { label, hint } = groupLabel(sink);
    const verdict = groupVerdict(assignment, label, hint);
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
    else if (before && !before.ready) log.info(fields, `${label} ${assignment.groupId} reads every partition again`);
  }

  async function handle(batch: RecordBatch): Promise<void> {
    const records: SinkRecord[] = [];
    let invalid = 0;
    let firstInvalidOffset: string | undefined;
    for (const consumed of batch.records) {
      const reading = decodeReading(consumed);
      if (reading === undefined) {
        invalid++;
        firstInvalidOffset ??= consumed.offset;
        continue;
      }
      records.push({ reading, json: consumed.value, id: readingIdOf(reading) });
    }
    if (invalid > 0) log.warn({ partition: batch.partition, count: invalid, firstOffset: firstInvalidOffset }, 'skipped records that are not readings');
    if (records.length === 0) return;
    // While the sink is down the write waits; heartbeats keep this member in its group meanwhile, so the partitions
    // are paused here rather than handed to another member that would hit the same wall.
    const heartbeats = setInterval(() => void batch.heartbeat().catch(() => undefined), 3000);
    status.inFlight += records.length;
    try {
      await batcher.add(records);
    } finally {
      status.inFlight -= records.length;
      clearInterval(heartbeats);
    }
  }

  return {
    async start() {
      metrics.sinkFailing.set(labels, 0);
      consumer = deps.bus.createConsumer({
        groupId: options.groupId,
        streams: ['telemetry'],
        from: 'earliest',
        concurrency: options.concurrency,
        // Readings wait up to lingerMs for a write anyway; fetching more at once costs less per reading.
        fetchWaitMs: Math.max(10, Math.min(options.lingerMs, 100)),
        onAssignment,
      });
      await consumer.run(handle);
      if (status.state === 'starting') status.state = 'writing';
    },
    status: () => ({ ...status, connection: sink.health() }),
    async close() {
      // Stop fetching first, then let the last merged write finish so its offsets can be committed. A sink that is
      // down would hold shutdown for as long as it stays down: after closeTimeoutMs the write is given up, its offsets
      // stay uncommitted, and the next member writes it again.
      const closing = consumer?.close();
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), options.closeTimeoutMs ?? 10_000)));
      if ((await Promise.race([batcher.close().then(() => 'flushed' as const), gaveUp])) === 'timeout') {
        log.warn({ inFlight: status.inFlight }, `${sink.name} did not take the last readings before shutdown; they stay in Kafka for the next member`);
        batcher.abort();
      }
      clearTimeout(timer);
      await closing;
      status.state = 'stopped';
    },
  };
}
