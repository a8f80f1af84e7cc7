import { Kafka, logLevel } from './kafkajs.js';
import type { ConsumerGroupLag, ConsumerLagReport, ConsumerLagSource, StreamName } from '../seams.js';
import { topicName, type KafkaConnection } from './connection.js';
import { lazyAdmin } from './kafka-admin.js';

/**
 * Kafka consumer lag behind the ConsumerLagSource seam: per group and partition, the topic's end offset minus the
 * group's committed offset. One admin connection, answers cached for `cacheMs` so a room full of open dashboards
 * costs Kafka two requests per group every few seconds.
 *
 * The live feed reads without a group (every dashboard sees every device), so it has no committed offsets and no
 * lag to report here; the writer group is the one that matters for "is the store keeping up".
 */

export interface KafkaLagOptions {
  /** The groups to report, each with the stream it reads. */
  groups: readonly { groupId: string; stream: StreamName }[];
  cacheMs?: number;
}

/** Lag of one partition: a group with nothing committed has the whole retained range ahead of it. */
export function partitionLag(committed: string, low: string, high: string): number {
  const end = BigInt(high);
  const start = BigInt(committed) >= 0n ? BigInt(committed) : BigInt(low);
  const lag = end - start;
  return lag > 0n ? Number(lag) : 0;
}

/**
 * One group's lag on one topic from the admin answers: the topic's offsets (fetchTopicOffsets) and the group's
 * committed ones (fetchOffsets, `-1` or absent when nothing is committed). Partitions in order.
 */
export function groupLag(
  groupId: string,
  topic: string,
  ends: readonly { partition: number; low: string; high: string }[],
  committed: readonly { partition: number; offset: string }[],
): ConsumerGroupLag {
  const committedBy = new Map(committed.map((p) => [p.partition, p.offset]));
  const partitions = ends
    .map((end) => {
      const offset = committedBy.get(end.partition) ?? '-1';
      return {
        partition: end.partition,
        committed: BigInt(offset) >= 0n ? offset : null,
        end: end.high,
        lag: partitionLag(offset, end.low, end.high),
      };
    })
    .sort((a, b) => a.partition - b.partition);
  return { groupId, topic, totalLag: partitions.reduce((n, p) => n + p.lag, 0), partitions };
}

export function createKafkaLagSource(connection: Pick<KafkaConnection, 'brokers' | 'clientId' | 'topicPrefix'>, options: KafkaLagOptions): ConsumerLagSource {
  const kafka = new Kafka({ clientId: `${connection.clientId}-dashboard`, brokers: [...connection.brokers], logLevel: logLevel.NOTHING, retry: { retries: 1 } });
  const groups = options.groups.map(({ groupId, stream }) => ({ groupId, topic: topicName(connection.topicPrefix, stream) }));
  const cacheMs = options.cacheMs ?? 5000;
  const admin = lazyAdmin(kafka);
  let cached: { at: number; report: Promise<ConsumerLagReport> } | undefined;

  async function fetchReport(): Promise<ConsumerLagReport> {
    try {
      const client = await admin.get();
      const report: ConsumerGroupLag[] = [];
      for (const { groupId, topic } of groups) {
        const [ends, committed] = await Promise.all([client.fetchTopicOffsets(topic), client.fetchOffsets({ groupId, topics: [topic] })]);
        report.push(groupLag(groupId, topic, ends, committed.find((t) => t.topic === topic)?.partitions ?? []));
      }
      return { available: true, groups: report };
    } catch (error) {
      // Drop the connection: the next read reconnects, perhaps to a broker that is back.
      await admin.close().catch(() => undefined);
      return { available: false, note: `Kafka admin: ${(error as Error).message}`, groups: [] };
    }
  }

  return {
    kind: 'kafka',
    read() {
      const at = Date.now();
      if (!cached || at - cached.at >= cacheMs) cached = { at, report: fetchReport() };
      return cached.report;
    },
    async close() {
      await admin.close().catch(() => undefined);
    },
  };
}
