import { Kafka, logLevel, type Admin } from '../core/streams/kafkajs.js';
import type { GroupLag, LagReport } from './protocol.js';

export type { LagReport } from './protocol.js';

/**
 * Kafka consumer lag for the pipeline view: per group and partition, the topic's end offset minus the
 * group's committed offset. One admin connection, answers cached for `cacheMs` so a room full of open
 * dashboards costs Kafka two requests per group every few seconds.
 *
 * The live feed reads without a group (every dashboard sees every device), so it has no committed offsets
 * and no lag to report here; the writer group is the one that matters for "is the store keeping up".
 */




export interface ConsumerLagOptions {
  brokers: readonly string[];
  clientId: string;
  groups: readonly { groupId: string; topic: string }[];
  cacheMs?: number;
}

export interface ConsumerLagReader {
  read(): Promise<LagReport>;
  close(): Promise<void>;
}

/** Lag of one partition: a group with nothing committed has the whole retained range ahead of it. */
export function partitionLag(committed: string, low: string, high: string): number {
  const end = BigInt(high);
  const start = BigInt(committed) >= 0n ? BigInt(committed) : BigInt(low);
  const lag = end - start;
  return lag > 0n ? Number(lag) : 0;
}

export function createConsumerLagReader(options: ConsumerLagOptions): ConsumerLagReader {
  const kafka = new Kafka({ clientId: `${options.clientId}-dashboard`, brokers: [...options.brokers], logLevel: logLevel.NOTHING, retry: { retries: 1 } });
  const cacheMs = options.cacheMs ?? 5000;
  let admin: Admin | undefined;
  let cached: { at: number; report: Promise<LagReport> } | undefined;

  async function connected(): Promise<Admin> {
    if (!admin) {
      const created = kafka.admin();
      await created.connect();
      admin = created;
    }
    return admin;
  }

  async function fetchReport(): Promise<LagReport> {
    try {
      const client = await connected();
      const groups: GroupLag[] = [];
      for (const { groupId, topic } of options.groups) {
        const [ends, committed] = await Promise.all([client.fetchTopicOffsets(topic), client.fetchOffsets({ groupId, topics: [topic] })]);
        const committedBy = new Map((committed.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, p.offset]));
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
        groups.push({ groupId, topic, totalLag: partitions.reduce((n, p) => n + p.lag, 0), partitions });
      }
      return { available: true, groups };
    } catch (error) {
      // Drop the connection: the next read reconnects, perhaps to a broker that is back.
      const stale = admin;
      admin = undefined;
      await stale?.disconnect().catch(() => undefined);
      return { available: false, note: `Kafka admin: ${(error as Error).message}`, groups: [] };
    }
  }

  return {
    read() {
      const at = Date.now();
      if (!cached || at - cached.at >= cacheMs) cached = { at, report: fetchReport() };
      return cached.report;
    },
    async close() {
      await admin?.disconnect().catch(() => undefined);
      admin = undefined;
    },
  };
}
