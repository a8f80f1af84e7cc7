import { Kafka, logLevel as KafkaLogLevel, CompressionTypes, type Message, type Admin, type ICustomPartitioner, type Consumer, type EachBatchPayload, type Producer, type LogEntry } from './kafkajs.js';
import type { Logger } from '../logger.js';
import { acknowledgedBeforeFailure } from './kafkajs-patches.js';
import { sluiceError, ErrorCodes } from '../errors.js';
import type {
  ConsumedRecord,
  HistoryProgress,
  HistoryRange,
  BatchHandler,
  ConsumerOptions,
  OutgoingRecord,
  StreamBus,
  StreamConsumer,
  StreamName,
  StreamProducer,
} from '../seams.js';
import { COMPACTED_STREAMS, STREAM_NAMES } from '../seams.js';
import { murmur2, partitionForKey } from '../murmur2.js';
import { backoffDelay, type BackoffOptions } from '../retry.js';
import type { StreamAssignment } from '../seams.js';
import { inspectGroupJoin } from './kafka-group.js';
import { copartitionedAssigner } from './kafka-assigner.js';
import { topicName, type KafkaConnection } from './connection.js';

/** A KafkaConnection (kafkaConnectionFrom) and a logger; compression defaults to none. */
export type KafkaBusOptions = Pick<KafkaConnection, 'brokers' | 'clientId' | 'topicPrefix' | 'partitions' | 'replicationFactor'> &
  Partial<Pick<KafkaConnection, 'compression'>> & { logger: Logger };

/**
 * kafkajs behind the StreamBus seam. The rest of Sluice never imports kafkajs (lint enforces it), so the client
 * can be swapped (or its quirks fixed) in core/streams/ alone.
 */
export function createKafkaBus(options: KafkaBusOptions): StreamBus {
  const log = options.logger.child({ module: 'kafka' });
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry: LogEntry) => forwardKafkaLog(log, entry),
    retry: { initialRetryTime: 200, retries: 8 },
  });
  const streamOf = new Map<string, StreamName>(STREAM_NAMES.map((s) => [topicName(options.topicPrefix, s), s]));
  const closers = new Set<() => Promise<void>>();
  let admin: Admin | undefined;

  async function connectedAdmin(): Promise<Admin> {
    if (!admin) {
      const created = kafka.admin();
      await created.connect();
      admin = created;
    }
    return admin;
  }

  return {
    kind: 'kafka',

    async ensureStreams() {
      const client = await connectedAdmin();
      const wanted = STREAM_NAMES.map((s) => topicName(options.topicPrefix, s));
      const compacted = new Set([...COMPACTED_STREAMS].map((s) => topicName(options.topicPrefix, s)));
      // With three or more replicas an acknowledged record is on at least two brokers, and only an in-sync replica
      // may become leader (Kafka's default, set here so a broker-wide override cannot silently lose acknowledged data).
      const configEntries =
        options.replicationFactor >= 3
          ? [
              { name: 'min.insync.replicas', value: String(options.replicationFactor - 1) },
              { name: 'unclean.leader.election.enable', value: 'false' },
            ]
          : [];
      // Creating topics races with the controller electing their leaders (and with another Sluice process
      // creating the same topics): retriable errors are retried, and each attempt creates only what is missing.
      const created = await whileRetriable(async () => {
        const existing = new Set(await client.listTopics());
        const missing = wanted.filter((t) => !existing.has(t));
        if (missing.length > 0) {
          await client.createTopics({
            waitForLeaders: true,
            topics: missing.map((topic) => ({
              topic,
              numPartitions: options.partitions,
              replicationFactor: options.replicationFactor,
              configEntries: compacted.has(topic) ? [...configEntries, { name: 'cleanup.policy', value: 'compact' }] : configEntries,
            })),
          });
        }
        // Leaders known for every partition, or this throws a retriable error and we try again.
        await client.fetchTopicMetadata({ topics: wanted });
        return missing;
      });
      if (created.length > 0) {
        log.info({ topics: created, partitions: options.partitions, replicationFactor: options.replicationFactor }, 'created topics');
      }
    },

    async createProducer(): Promise<StreamProducer> {
      // Idempotent with acks = all: a retried send cannot duplicate or reorder records in a partition.
      // kafkajs retries a few times within a send; after that the bridge's batcher retries the batch,
      // so an outage is seen (and logged once) instead of hanging inside the client forever.
      const producer: Producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: javaCompatiblePartitioner,
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
      });
      await producer.connect();
      const close = async (): Promise<void> => {
        closers.delete(close);
        await producer.disconnect();
      };
      closers.add(close);
      // Records Kafka acknowledged in a send that failed as a whole (other partitions' leaders were down). The
      // caller retries the same records; these must not go again: under a new sequence number a record already
      // written would be written twice. Weak: forgotten with the batch. Looked up only once a send has failed so.
      const acknowledgedEarlier = new WeakSet<OutgoingRecord>();
      let partlyAcknowledged = false;
      const toMessage = (record: OutgoingRecord): Message => ({ key: record.key, value: record.value, timestamp: record.timestamp === undefined ? undefined : String(record.timestamp) });
      const sendBatch = async (batches: { stream: StreamName; records: OutgoingRecord[] }[]): Promise<void> => {
        const outgoing = batches
          .map((b) => ({ topic: topicName(options.topicPrefix, b.stream), records: partlyAcknowledged ? b.records.filter((r) => !acknowledgedEarlier.has(r)) : b.records }))
          .filter((t) => t.records.length > 0);
        if (outgoing.length === 0) return;
        const topicMessages = outgoing.map((t) => ({ topic: t.topic, messages: t.records.map(toMessage) }));
        try {
          await producer.sendBatch({ topicMessages, acks: -1, compression: options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None });
        } catch (error) {
          const acknowledged = acknowledgedBeforeFailure(error);
          let count = 0;
          outgoing.forEach(({ records }, t) => {
            count += records.length;
            topicMessages[t]!.messages.forEach((message, i) => {
              if (acknowledged.has(message)) acknowledgedEarlier.add(records[i]!);
            });
          });
          if (acknowledged.size > 0) partlyAcknowledged = true;
          const permanent = permanentKafkaErrorType(error);
          throw sluiceError(
            permanent ? ErrorCodes.KAFKA_REJECTED : ErrorCodes.KAFKA_UNAVAILABLE,
            `kafka did not accept ${count - acknowledged.size} of ${count} records: ${(error as Error).message}${permanent ? ` (${permanent})` : ''}`,
            { retriable: !permanent, cause: error },
          );
        }
      };
      return {
        send: (stream, records) => sendBatch([{ stream, records }]),
        sendBatch,
        close,
      };
    },

    async readPartitions(stream, partitions, onRecords) {
      const topic = topicName(options.topicPrefix, stream);
      const client = await connectedAdmin();
      const offsets = await whileRetriable(() => client.fetchTopicOffsets(topic));
      const wanted = new Set(partitions);
      // A compacted topic's first offsets may be gone (low > 0), and a compacted range may hold gaps: reading
      // from low up to the high watermark as of now covers every key's newest record.
      const ranges = new Map(
        offsets.filter((o) => wanted.has(o.partition) && BigInt(o.low) < BigInt(o.high)).map((o) => [o.partition, { start: BigInt(o.low), end: BigInt(o.high) }]),
      );
      await readRanges(kafka, `${options.clientId}-restore-${process.pid}-${Math.random().toString(36).slice(2, 10)}`, topic, ranges, onRecords);
    },

    createConsumer(consumerOptions: ConsumerOptions): StreamConsumer {
      return createKafkaStreamConsumer(kafka, options, consumerOptions, streamOf, log, closers);
    },

    async ping() {
      try {
        const client = await connectedAdmin();
        await client.describeCluster();
        return true;
      } catch {
        return false;
      }
    },

    async close() {
      for (const close of [...closers].reverse()) await close();
      await admin?.disconnect();
      admin = undefined;
    },
  };
}

/**
 * Java's default partitioner for keyed records (murmur2 of the key, masked positive, modulo the partition
 * count), like kafkajs's own, without its per-record costs: kafkajs filters the partition list and hashes the
 * key again for every record; device ids are hashed once here (core/murmur2.ts).
 */
export const javaCompatiblePartitioner: ICustomPartitioner = () => {
  let roundRobin = 0;
  return ({ partitionMetadata, message }) => {
    if (message.partition !== undefined && message.partition !== null) return message.partition;
    const partitions = partitionMetadata.length;
    const key = message.key;
    if (typeof key === 'string') return partitionForKey(key, partitions);
    if (Buffer.isBuffer(key)) return (murmur2(key) & 0x7fffffff) % partitions;
    // Records without a key spread evenly; Sluice always keys by device, this is for completeness.
    return roundRobin++ % partitions;
  };
};

/**
 * Offsets that cannot be committed because the group moved on (this member timed out, a rebalance
 * started) are not a failure: the new owner of the partition re-reads from the last commit, and
 * writing a reading twice is one point. Throwing here would crash the consumer for good.
 */
const GROUP_MOVED_ON = new Set(['UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'NOT_COORDINATOR']);

/** Fetches wait (up to the consumer's fetchWaitMs) for this much data. */
const FETCH_MIN_BYTES = 64 * 1024;
const COMMIT_INTERVAL_MS = 1000;
/** How long closing waits for batches in hand before committing what is done. */
const CLOSE_DRAIN_MS = 5000;

function createKafkaStreamConsumer(
  kafka: Kafka,
  options: KafkaBusOptions,
  consumerOptions: ConsumerOptions,
  streamOf: Map<string, StreamName>,
  log: Logger,
  closers: Set<() => Promise<void>>,
): StreamConsumer {
  // A reader that is not part of a group still needs a group id in Kafka: a unique one that never commits.
  const isGroupMember = consumerOptions.groupId !== undefined;
  const groupId = consumerOptions.groupId ?? `${options.clientId}-reader-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const topics = consumerOptions.streams.map((s) => topicName(options.topicPrefix, s));
  const who = { groupId: isGroupMember ? groupId : undefined, topics };
  let consumer: Consumer | undefined;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let lastCommitAt = 0;
  let commitTimer: NodeJS.Timeout | undefined;
  // What this member was given at the latest join, inspected against its whole group (./kafka-group.ts).
  let assignment: StreamAssignment | undefined;
  let joins = 0;
  let notSubscribed: string[] = [];
  function reportJoin(memberId: string, assigned: Record<string, number[]>): void {
    const join = ++joins;
    const joined = { groupId, memberId, topics: new Map(topics.map((t) => [t, streamOf.get(t)!])), assigned, notSubscribed: notSubscribed.splice(0) };
    void inspectGroupJoin(kafka, joined, options.partitions).then((inspected) => {
      // A newer join supersedes this one.
      if (join !== joins || stopping) return;
      assignment = inspected;
      consumerOptions.onAssignment?.(inspected);
    });
  }

  /** Processed but not yet committed: the next offset to read, per topic and partition. */
  const uncommitted = new Map<string, { topic: string; partition: number; offset: string }>();

  async function commitProcessed(current: Consumer): Promise<void> {
    if (uncommitted.size === 0) return;
    const offsets = [...uncommitted.values()];
    uncommitted.clear();
    try {
      await current.commitOffsets(offsets);
    } catch (error) {
      const type = (error as { type?: string }).type;
      if (!type || !GROUP_MOVED_ON.has(type)) {
        // Still ours to commit next time, unless a newer batch of that partition has been processed since.
        for (const offset of offsets) {
          const key = `${offset.topic}:${offset.partition}`;
          if (!uncommitted.has(key)) uncommitted.set(key, offset);
        }
        throw error;
      }
      log.warn({ ...who, partitions: offsets.map((o) => o.partition), reason: type }, 'offsets not committed: the group moved on; those batches will be read again');
    }
  }

  const close = async (): Promise<void> => {
    closers.delete(close);
    stopping = true;
    clearTimeout(restartTimer);
    clearTimeout(commitTimer);
    // New batches are skipped from here on; let the ones in hand finish (bounded: a handler may be waiting on
    // an outage), then commit what was processed, so a clean restart re-reads nothing.
    if (consumer && isGroupMember) {
      await batchesSettled(CLOSE_DRAIN_MS);
      await commitProcessed(consumer).catch((error: unknown) =>
        log.warn({ ...who, err: (error as Error).message }, 'final offset commit failed; the last second of batches will be read again'),
      );
    }
    await consumer?.disconnect();
  };
  closers.add(close);

  let batchesInHand = 0;
  const settledWaiters = new Set<() => void>();
  function batchesSettled(timeoutMs: number): Promise<void> {
    if (batchesInHand === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        settledWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      settledWaiters.add(done);
    });
  }

  async function start(handler: BatchHandler): Promise<void> {
    const current = kafka.consumer({
      groupId,
      // A writer that dies without leaving (SIGKILL, power loss) holds its partitions this long.
      sessionTimeout: 20_000,
      heartbeatInterval: 3000,
      allowAutoTopicCreation: false,
      // Kafka answers a fetch when it holds this much or after fetchWaitMs, whichever comes first.
      minBytes: FETCH_MIN_BYTES,
      maxWaitTimeInMs: consumerOptions.fetchWaitMs ?? 100,
      // kafkajs restarts the whole fetch loop (every broker's partitions) after a fetch from a broker that died, and
      // waits longer each time: capped low, reading resumes within 2 s of the partition's new leader being known.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 2000 },
      ...(consumerOptions.copartitioned ? { partitionAssigners: [copartitionedAssigner] } : {}),
    });
    consumer = current;
    // Group changes are rare and explain pauses, so they are logged.
    current.on(current.events.GROUP_JOIN, ({ payload }) => {
      log.info({ ...who, assignment: payload.memberAssignment, durationMs: payload.duration }, 'consumer joined its group');
      // A partition that went to another member is theirs to commit now: committing our older offset later
      // would move their position back.
      for (const [key, pending] of uncommitted) {
        if (!payload.memberAssignment[pending.topic]?.includes(pending.partition)) uncommitted.delete(key);
      }
      if (isGroupMember) reportJoin(payload.memberId, payload.memberAssignment);
    });
    // Sent just before GROUP_JOIN when the group's leader handed us topics we did not subscribe to (kafkajs drops them).
    current.on(current.events.RECEIVED_UNSUBSCRIBED_TOPICS, ({ payload }) => void (notSubscribed = [...payload.topicsNotSubscribed]));
    current.on(current.events.REBALANCING, () => log.info(who, 'consumer group rebalancing'));
    current.on(current.events.CRASH, ({ payload }) => {
      if (payload.restart || stopping) {
        log.warn({ ...who, err: payload.error?.message }, 'consumer crashed; kafkajs restarts it');
        return;
      }
      // kafkajs gives up on some errors; a consumer that stops for good would stall the pipeline, so start a new one.
      log.error({ ...who, err: payload.error?.message }, 'consumer stopped after an error; starting a new one');
      restartTimer = setTimeout(() => {
        void current
          .disconnect()
          .catch(() => undefined)
          .then(() => (stopping ? undefined : start(handler)))
          .catch((error: unknown) => log.error({ ...who, err: (error as Error).message }, 'consumer restart failed'));
      }, 1000);
    });
    await current.connect();
    const from = consumerOptions.from;
    await current.subscribe({ topics, fromBeginning: from === 'earliest' });
    if (typeof from === 'object') {
      await seekOnAssignment(current, kafka, topics, from);
    }
    await current.run({
      partitionsConsumedConcurrently: consumerOptions.concurrency ?? 1,
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        batchesInHand++;
        try {
          await handleBatch(payload);
        } finally {
          if (--batchesInHand === 0) for (const settled of [...settledWaiters]) settled();
        }
      },
    });

    async function handleBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
      if (batch.messages.length === 0 || stopping || !isRunning() || isStale()) return;
      const stream = streamOf.get(batch.topic);
      if (!stream) return;
      const records = batch.messages.map((m) => ({
        key: m.key?.toString('utf8') ?? '',
        value: m.value ?? Buffer.alloc(0),
        partition: batch.partition,
        offset: m.offset,
        timestamp: Number(m.timestamp),
      }));
      await handler({ stream, partition: batch.partition, records, heartbeat });
      // Resolving moves kafkajs's fetch position past the batch; without it the batch is fetched again.
      resolveOffset(batch.lastOffset());
      if (isGroupMember) {
        const next = (BigInt(batch.lastOffset()) + 1n).toString();
        uncommitted.set(`${batch.topic}:${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: next });
        // One commit request for every partition at most every COMMIT_INTERVAL_MS, not one per batch: at a
        // few thousand readings a second per-batch commits cost Kafka more CPU than the records themselves.
        // A member that dies re-reads at most that much, and writing a reading again is the same point.
        if (Date.now() - lastCommitAt >= COMMIT_INTERVAL_MS) {
          lastCommitAt = Date.now();
          await commitProcessed(current);
        } else if (!commitTimer) {
          // The stream may stop here: the rest is committed a little later anyway, so lag reads 0 when idle.
          commitTimer = setTimeout(() => {
            commitTimer = undefined;
            if (stopping) return;
            lastCommitAt = Date.now();
            commitProcessed(current).catch((error: unknown) => log.warn({ ...who, err: (error as Error).message }, 'offset commit failed; retried with the next batch'));
          }, COMMIT_INTERVAL_MS);
        }
      }
      await heartbeat().catch(() => undefined);
    }
  }

  return {
    run: (handler: BatchHandler) => start(handler),
    assignment: () => assignment,
    close,
  };
}

/**
 * kafkajs seeks only after `run()` has joined the group, so "from this time" positions are applied on
 * the GROUP_JOIN event. A throwaway group without commits starts at the end by itself.
 */
async function seekOnAssignment(
  consumer: Consumer,
  kafka: Kafka,
  topics: string[],
  from: ConsumerOptions['from'],
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = new Map<string, { partition: number; offset: string }[]>();
  try {
    for (const topic of topics) {
      if (typeof from !== 'object') continue;
      // Right after topics are created their leaders may still be moving: retriable, so wait it out.
      const found = await whileRetriable(() => admin.fetchTopicOffsetsByTimestamp(topic, from.timestamp));
      offsets.set(
        topic,
        found.map((o) => ({ partition: o.partition, offset: o.offset })),
      );
    }
  } finally {
    await admin.disconnect();
  }
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      for (const partition of partitions) {
        const offset = offsets.get(topic)?.find((o) => o.partition === partition)?.offset;
        if (offset !== undefined && offset !== '-1') consumer.seek({ topic, partition, offset });
      }
    }
  });
}

/** Between retries of an admin call the broker called retriable (a leader election, a topic still being created). */
const ADMIN_BACKOFF: Readonly<BackoffOptions> = { initialMs: 100, maxMs: 2000 };

async function whileRetriable<T>(operation: () => Promise<T>, deadlineMs = 30_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if ((error as { retriable?: boolean }).retriable !== true || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, ADMIN_BACKOFF)));
    }
  }
}

/** Broker answers that no retry can change; anything else (including "retries exhausted") is an outage. */
const PERMANENT_KAFKA_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_VERSION',
]);

/**
 * kafkajs marks "retries exhausted" as non-retriable, but for us a broker that is down is an outage to
 * wait out, never a reason to drop the device's connection. Only broker verdicts about the records
 * themselves are permanent. The verdict may sit a few `cause`/`originalError` levels deep.
 */
export function permanentKafkaErrorType(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string' && PERMANENT_KAFKA_ERRORS.has(type)) return type;
    current = (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function forwardKafkaLog(log: Logger, entry: LogEntry): void {
  const { message, ...rest } = entry.log;
  // Our limited producer retries are deliberate (see createProducer): the batcher retries on top.
  if (message.startsWith('Limiting retries for the idempotent producer')) return;
  const level = entry.level === KafkaLogLevel.ERROR ? 'error' : entry.level === KafkaLogLevel.WARN ? 'warn' : 'debug';
  log[level]({ kafkaModule: entry.namespace, ...rest }, message);
}

/**
 * Reads one time range of a stream once, partition by partition, and stops at the offsets that held the
 * end of the range when it started. Uses a throwaway group that never commits, so it disturbs no one.
 */
export async function readKafkaHistory(
  options: Pick<KafkaBusOptions, 'brokers' | 'clientId' | 'topicPrefix'>,
  range: HistoryRange,
  onRecords: (records: { key: string; value: Buffer; timestamp: number }[]) => Promise<void>,
  onProgress: (progress: HistoryProgress) => void = () => undefined,
): Promise<HistoryProgress> {
  const kafka = new Kafka({ clientId: options.clientId, brokers: [...options.brokers], logLevel: KafkaLogLevel.NOTHING });
  const topic = topicName(options.topicPrefix, range.stream);
  const admin = kafka.admin();
  await admin.connect();
  let starts: Map<number, bigint>;
  let ends: Map<number, bigint>;
  try {
    const high = new Map((await whileRetriable(() => admin.fetchTopicOffsets(topic))).map((o) => [o.partition, BigInt(o.high)]));
    const byTime = async (ts: number) =>
      new Map(
        (await whileRetriable(() => admin.fetchTopicOffsetsByTimestamp(topic, ts))).map((o) => [
          o.partition,
          // -1: nothing at or after that time; the range ends at the high watermark.
          o.offset === '-1' ? high.get(o.partition)! : BigInt(o.offset),
        ]),
      );
    starts = await byTime(range.fromTs);
    ends = await byTime(range.toTs);
  } finally {
    await admin.disconnect();
  }
  const ranges = new Map([...starts].filter(([partition, start]) => start < ends.get(partition)!).map(([partition, start]) => [partition, { start, end: ends.get(partition)! }]));
  const progress: HistoryProgress = { total: 0, read: 0 };
  for (const { start, end } of ranges.values()) progress.total += Number(end - start);
  onProgress({ ...progress });
  await readRanges(kafka, `${options.clientId}-replay-${process.pid}-${Date.now()}`, topic, ranges, async (records) => {
    progress.read += records.length;
    const wanted = records
      .map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp }))
      .filter((r) => r.timestamp >= range.fromTs && r.timestamp < range.toTs && (!range.keys || range.keys.has(r.key)));
    if (wanted.length > 0) await onRecords(wanted);
    onProgress({ ...progress });
  });
  return progress;
}

/**
 * Reads [start, end) of each partition once, with a throwaway group that never commits (kafkajs cannot read
 * without a group), and resolves when every range is read.
 */
async function readRanges(
  kafka: Kafka,
  groupId: string,
  topic: string,
  ranges: ReadonlyMap<number, { start: bigint; end: bigint }>,
  onRecords: (records: ConsumedRecord[]) => void | Promise<void>,
): Promise<void> {
  const pending = new Set(ranges.keys());
  if (pending.size === 0) return;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const [partition, { start }] of ranges) consumer.seek({ topic, partition, offset: start.toString() });
    });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch, heartbeat }) => {
            const range = ranges.get(batch.partition);
            if (!range || !pending.has(batch.partition)) return;
            const inRange = batch.messages.filter((m) => BigInt(m.offset) >= range.start && BigInt(m.offset) < range.end);
            if (inRange.length > 0) {
              await onRecords(
                inRange.map((m) => ({ key: m.key?.toString('utf8') ?? '', value: m.value ?? Buffer.alloc(0), partition: batch.partition, offset: m.offset, timestamp: Number(m.timestamp) })),
              );
            }
            await heartbeat();
            if (BigInt(batch.lastOffset()) + 1n >= range.end) {
              pending.delete(batch.partition);
              if (pending.size === 0) resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}
