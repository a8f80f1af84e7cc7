import type { Consumer, EachBatchPayload, Kafka } from './kafkajs.js';
import type { Logger } from '../logger.js';
import type { BatchHandler, ConsumerOptions, StreamAssignment, StreamConsumer, StreamName } from '../seams.js';
import { inspectGroupJoin } from './kafka-group.js';
import { copartitionedAssigner } from './kafka-assigner.js';
import { whileRetriable, withAdmin } from './kafka-admin.js';
import { groupMovedOn } from './kafka-errors.js';
import { topicName, type KafkaConnection } from './connection.js';

/** Fetches wait (up to the consumer's fetchWaitMs) for this much data. */
const FETCH_MIN_BYTES = 64 * 1024;
const COMMIT_INTERVAL_MS = 1000;
/** How long closing waits for batches in hand before committing what is done. */
const CLOSE_DRAIN_MS = 5000;

/**
 * A StreamConsumer on kafkajs: a group member (offsets committed about once a second, and on close after the
 * batches in hand) or, without a group id, a reader of its own that never commits. A consumer kafkajs gives up on
 * is replaced by a new one.
 */
export function createKafkaStreamConsumer(
  kafka: Kafka,
  options: Pick<KafkaConnection, 'clientId' | 'topicPrefix' | 'partitions'>,
  consumerOptions: ConsumerOptions,
  log: Logger,
): StreamConsumer {
  // A reader that is not part of a group still needs a group id in Kafka: a unique one that never commits.
  const isGroupMember = consumerOptions.groupId !== undefined;
  const groupId = consumerOptions.groupId ?? `${options.clientId}-reader-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const topics = consumerOptions.streams.map((s) => topicName(options.topicPrefix, s));
  const streamOf = new Map<string, StreamName>(consumerOptions.streams.map((s) => [topicName(options.topicPrefix, s), s]));
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
      const type = groupMovedOn(error);
      if (!type) {
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
    stopping = true;
    clearTimeout(restartTimer);
    clearTimeout(commitTimer);
    // New batches are skipped from here on; let the ones in hand finish (bounded: a handler may be waiting on
    // an outage), then commit what was processed, so a clean restart re-reads nothing.
    if (consumer && isGroupMember) {
      await batchesSettled(CLOSE_DRAIN_MS);
      await commitProcessed(consumer).catch((error: unknown) =>
        log.warn({ ...who, err: error }, 'final offset commit failed; the last second of batches will be read again'),
      );
    }
    await consumer?.disconnect();
  };

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
        log.warn({ ...who, err: payload.error }, 'consumer crashed; kafkajs restarts it');
        return;
      }
      // kafkajs gives up on some errors; a consumer that stops for good would stall the pipeline, so start a new one.
      log.error({ ...who, err: payload.error }, 'consumer stopped after an error; starting a new one');
      restartTimer = setTimeout(() => {
        void current
          .disconnect()
          .catch(() => undefined)
          .then(() => (stopping ? undefined : start(handler)))
          .catch((error: unknown) => log.error({ ...who, err: error }, 'consumer restart failed'));
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
            commitProcessed(current).catch((error: unknown) => log.warn({ ...who, err: error }, 'offset commit failed; retried with the next batch'));
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
  const offsets = new Map<string, { partition: number; offset: string }[]>();
  await withAdmin(kafka, async (admin) => {
    for (const topic of topics) {
      if (typeof from !== 'object') continue;
      // Right after topics are created their leaders may still be moving: retriable, so wait it out.
      const found = await whileRetriable(() => admin.fetchTopicOffsetsByTimestamp(topic, from.timestamp));
      offsets.set(
        topic,
        found.map((o) => ({ partition: o.partition, offset: o.offset })),
      );
    }
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      for (const partition of partitions) {
        const offset = offsets.get(topic)?.find((o) => o.partition === partition)?.offset;
        if (offset !== undefined && offset !== '-1') consumer.seek({ topic, partition, offset });
      }
    }
  });
}

