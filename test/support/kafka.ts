import { Kafka, logLevel } from '../../core/streams/kafkajs.js';

/**
 * The Kafka client for tests that look at Kafka from outside Sluice: raw producers and readers, admin inspection
 * (committed offsets, groups, broker configs), and kafkajs's own partitioner and errors as references. Tests reach
 * kafkajs only through here; lint keeps the client inside core/streams/ elsewhere (eslint.config.js).
 */
export {
  Kafka,
  logLevel,
  Partitioners,
  ConfigResourceTypes,
  KafkaJSConnectionError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  type Admin,
  type Consumer,
  type EachMessagePayload,
  type Producer,
} from '../../core/streams/kafkajs.js';

export interface KafkaRecord {
  key: string;
  value: string;
  partition: number;
  timestamp: number;
}

/**
 * Reads a topic from the beginning with a throwaway consumer until `until` is satisfied or the
 * deadline passes; returns every record seen.
 *
 * `until` is asked once per fetched batch, never once per record: callers look at every record seen so far
 * (parse each value, count distinct ones), so asking per record is quadratic. On 12,000 records that took the
 * bridge-outage test's reader past its 60 s deadline on a loaded 2-core machine, and the timeout read like
 * records missing from Kafka when Kafka had every one.
 */
export async function readTopic(
  brokers: string,
  topic: string,
  until: (records: KafkaRecord[]) => boolean,
  timeoutMs = 30_000,
): Promise<KafkaRecord[]> {
  const kafka = new Kafka({ clientId: 'sluice-test-reader', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `test-reader-${Date.now()}-${Math.random().toString(36).slice(2)}` });
  const records: KafkaRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out reading ${topic}: saw ${records.length} records`)), timeoutMs);
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            records.push({
              key: message.key?.toString() ?? '',
              value: message.value?.toString() ?? '',
              partition: batch.partition,
              timestamp: Number(message.timestamp),
            });
          }
          if (batch.messages.length > 0 && until(records)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}
