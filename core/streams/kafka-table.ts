import { ConfigResourceTypes, type Kafka, type Producer } from './kafkajs.js';
import type { Logger } from '../logger.js';
import type { CompactedTable, TableName, TableRecord } from '../seams.js';
import { lazyAdmin, whileRetriable } from './kafka-admin.js';
import { javaCompatiblePartitioner } from './kafka-producer.js';
import { tableTopicName, type KafkaConnection } from './connection.js';

/** Longest a follower's fetch waits for new records: a change made anywhere reaches every follower within about this. */
const FOLLOW_FETCH_WAIT_MS = 100;

/**
 * A compacted topic read whole and then followed (docs/contracts.md §6, the tables): the device registry. One
 * partition, so the table has one order and a follower knows exactly when it has read to the end. kafkajs cannot
 * read without a group, so each follower has a throwaway group that never commits (Kafka drops it when it leaves).
 */
export function createKafkaTable(
  kafka: Kafka,
  options: Pick<KafkaConnection, 'clientId' | 'topicPrefix' | 'replicationFactor'>,
  table: TableName,
  logger: Logger,
): CompactedTable {
  const topic = tableTopicName(options.topicPrefix, table);
  const log = logger.child({ module: 'kafka-table', topic });
  const admin = lazyAdmin(kafka);
  let producer: Promise<Producer> | undefined;
  let consumer: ReturnType<Kafka['consumer']> | undefined;
  let following = false;
  let policyNote: string | undefined;
  let crashNote: string | undefined;
  let ensured: Promise<void> | undefined;

  /** Creates the topic when missing; an existing topic that is not compacted is used, with a loud note. */
  async function ensure(): Promise<void> {
    const client = await admin.get();
    await whileRetriable(async () => {
      if (!(await client.listTopics()).includes(topic)) {
        await client
          .createTopics({
            waitForLeaders: true,
            topics: [
              {
                topic,
                numPartitions: 1,
                replicationFactor: options.replicationFactor,
                configEntries: [
                  { name: 'cleanup.policy', value: 'compact' },
                  ...(options.replicationFactor >= 3
                    ? [
                        { name: 'min.insync.replicas', value: String(options.replicationFactor - 1) },
                        { name: 'unclean.leader.election.enable', value: 'false' },
                      ]
                    : []),
                ],
              },
            ],
          })
          .catch((error: unknown) => {
            // Another process created it first: fine.
            if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
          });
      }
      await client.fetchTopicMetadata({ topics: [topic] });
    });
    const described = await whileRetriable(() => client.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }], includeSynonyms: false }));
    const policy = described.resources[0]?.configEntries.find((entry) => entry.configName === 'cleanup.policy')?.configValue ?? 'unknown';
    if (!policy.split(',').includes('compact')) {
      policyNote = `${topic} has cleanup.policy=${policy}, not compact: Kafka deletes registrations older than its retention (kafka-configs --alter --add-config cleanup.policy=compact)`;
      log.error({ cleanupPolicy: policy }, policyNote);
    }
  }

  return {
    async follow(onRecords) {
      ensured ??= ensure();
      await ensured;
      const client = await admin.get();
      const offsets = await whileRetriable(() => client.fetchTopicOffsets(topic));
      const ends = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
      const current = kafka.consumer({
        // Named as every group-less reader is (core/streams/kafka-consumer.ts), so tools telling readers from groups see one.
        groupId: `${options.clientId}-reader-${table}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
        allowAutoTopicCreation: false,
        maxWaitTimeInMs: FOLLOW_FETCH_WAIT_MS,
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 2000 },
      });
      consumer = current;
      current.on(current.events.CRASH, ({ payload }) => {
        following = false;
        crashNote = `following ${topic} failed: ${payload.error.message}`;
        log.warn({ err: payload.error }, 'table follower crashed; kafkajs restarts it');
      });
      current.on(current.events.FETCH, () => {
        if (crashNote) log.info('table follower reading again');
        crashNote = undefined;
        if (ends.size === 0) following = true;
      });
      await current.connect();
      await current.subscribe({ topics: [topic], fromBeginning: true });
      let caughtUp!: () => void;
      const readToEnd = new Promise<void>((resolve) => (caughtUp = resolve));
      await current.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const records: TableRecord[] = batch.messages.map((message) => ({ key: message.key?.toString('utf8') ?? '', value: message.value }));
          if (records.length > 0) onRecords(records);
          const end = ends.get(batch.partition);
          if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) {
            ends.delete(batch.partition);
            if (ends.size === 0) {
              following = true;
              caughtUp();
            }
          }
        },
      });
      if (ends.size === 0) {
        following = true;
        caughtUp();
      }
      await readToEnd;
    },

    async write(records) {
      if (records.length === 0) return;
      ensured ??= ensure();
      await ensured;
      producer ??= (async () => {
        const created = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: javaCompatiblePartitioner });
        await created.connect();
        return created;
      })();
      await (await producer).send({ topic, acks: -1, messages: records.map((record) => ({ key: record.key, value: record.value })) });
    },

    health() {
      const notes = [policyNote, crashNote].filter((note): note is string => note !== undefined);
      return { following, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) };
    },

    async close() {
      following = false;
      await consumer?.disconnect().catch(() => undefined);
      const open = await producer?.catch(() => undefined);
      await open?.disconnect().catch(() => undefined);
      await admin.close();
    },
  };
}
