import { Kafka, logLevel as KafkaLogLevel, type Admin } from './kafkajs.js';
import type { ConsumedRecord, HistoryProgress, HistoryRange, StreamName } from '../seams.js';
import { whileRetriable, withAdmin } from './kafka-admin.js';
import { topicName, type KafkaConnection } from './connection.js';

/**
 * Reading what a stream holds, once, from given offsets to given offsets: the replay of a time range
 * (readKafkaHistory) and the restore of compacted partitions (readCompactedPartitions). Both read with a throwaway
 * group that never commits, so they disturb no one.
 */

/**
 * Reads the given partitions of a stream once, from the oldest offset kept up to the high watermark as of now. A
 * compacted topic's first offsets may be gone (low > 0), and a compacted range may hold gaps: this covers every
 * key's newest record.
 */
export async function readCompactedPartitions(
  kafka: Kafka,
  admin: Admin,
  options: Pick<KafkaConnection, 'clientId' | 'topicPrefix'>,
  stream: StreamName,
  partitions: readonly number[],
  onRecords: (records: ConsumedRecord[]) => void | Promise<void>,
): Promise<void> {
  const topic = topicName(options.topicPrefix, stream);
  const offsets = await whileRetriable(() => admin.fetchTopicOffsets(topic));
  const wanted = new Set(partitions);
  const ranges = new Map(
    offsets.filter((o) => wanted.has(o.partition) && BigInt(o.low) < BigInt(o.high)).map((o) => [o.partition, { start: BigInt(o.low), end: BigInt(o.high) }]),
  );
  await readRanges(kafka, `${options.clientId}-restore-${process.pid}-${Math.random().toString(36).slice(2, 10)}`, topic, ranges, onRecords);
}

/**
 * Reads one time range of a stream once, partition by partition, and stops at the offsets that held the
 * end of the range when it started. Uses a throwaway group that never commits, so it disturbs no one.
 */
export async function readKafkaHistory(
  options: Pick<KafkaConnection, 'brokers' | 'clientId' | 'topicPrefix'>,
  range: HistoryRange,
  onRecords: (records: { key: string; value: Buffer; timestamp: number }[]) => Promise<void>,
  onProgress: (progress: HistoryProgress) => void = () => undefined,
): Promise<HistoryProgress> {
  const kafka = new Kafka({ clientId: options.clientId, brokers: [...options.brokers], logLevel: KafkaLogLevel.NOTHING });
  const topic = topicName(options.topicPrefix, range.stream);
  const { starts, ends } = await withAdmin(kafka, async (admin) => {
    const high = new Map((await whileRetriable(() => admin.fetchTopicOffsets(topic))).map((o) => [o.partition, BigInt(o.high)]));
    const byTime = async (ts: number) =>
      new Map(
        (await whileRetriable(() => admin.fetchTopicOffsetsByTimestamp(topic, ts))).map((o) => [
          o.partition,
          // -1: nothing at or after that time; the range ends at the high watermark.
          o.offset === '-1' ? high.get(o.partition)! : BigInt(o.offset),
        ]),
      );
    return { starts: await byTime(range.fromTs), ends: await byTime(range.toTs) };
  });
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
