import type { Admin, Kafka } from './kafkajs.js';
import type { Logger } from '../logger.js';
import { COMPACTED_STREAMS, STREAM_NAMES } from '../seams.js';
import { backoffDelay, type BackoffOptions } from '../retry.js';
import { isRetriableKafkaError } from './kafka-errors.js';
import { topicName, type KafkaConnection } from './connection.js';

/** One admin connection, opened on first use and kept: the bus's and the lag source's. */
export interface LazyAdmin {
  /** The connected admin; connects it on first use, and again after a failed connect or `close`. */
  get(): Promise<Admin>;
  /** Forgets the admin and disconnects it (the next `get` connects again); a no-op when none is open. */
  close(): Promise<void>;
}

export function lazyAdmin(kafka: Kafka): LazyAdmin {
  let connecting: Promise<Admin> | undefined;
  return {
    get() {
      if (!connecting) {
        const created = kafka.admin();
        const pending = created.connect().then(() => created);
        connecting = pending;
        // A failed connect is not kept: the next call tries again.
        pending.catch(() => {
          if (connecting === pending) connecting = undefined;
        });
      }
      return connecting;
    },
    async close() {
      const pending = connecting;
      connecting = undefined;
      const admin = await pending?.catch(() => undefined);
      await admin?.disconnect();
    },
  };
}

/** An admin for one piece of work: connected, used, disconnected. */
export async function withAdmin<T>(kafka: Kafka, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Between retries of an admin call the broker called retriable (a leader election, a topic still being created). */
const ADMIN_BACKOFF: Readonly<BackoffOptions> = { initialMs: 100, maxMs: 2000 };

/** Runs `operation` again while it fails with an error kafkajs calls retriable, for up to `deadlineMs`. */
export async function whileRetriable<T>(operation: () => Promise<T>, deadlineMs = 30_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isRetriableKafkaError(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, ADMIN_BACKOFF)));
    }
  }
}

/** Creates the topics of every stream that are missing, and waits until each partition has a leader. */
export async function ensureTopics(
  admin: Admin,
  options: Pick<KafkaConnection, 'topicPrefix' | 'partitions' | 'replicationFactor'>,
  log: Logger,
): Promise<void> {
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
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
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
    await admin.fetchTopicMetadata({ topics: wanted });
    return missing;
  });
  if (created.length > 0) {
    log.info({ topics: created, partitions: options.partitions, replicationFactor: options.replicationFactor }, 'created topics');
  }
}
