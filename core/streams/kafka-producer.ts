import { CompressionTypes, type ICustomPartitioner, type Kafka, type Message, type Producer } from './kafkajs.js';
import { acknowledgedBeforeFailure } from './kafkajs-patches.js';
import type { OutgoingRecord, StreamName, StreamProducer } from '../seams.js';
import { murmur2, partitionForKey } from '../murmur2.js';
import { sendFailure } from './kafka-errors.js';
import { topicName, type KafkaConnection } from './connection.js';

/**
 * An idempotent producer with acks = all: a retried send cannot duplicate or reorder records in a partition.
 * kafkajs retries a few times within a send; after that the bridge's batcher retries the batch, so an outage is
 * seen (and logged once) instead of hanging inside the client forever.
 */
export async function createKafkaProducer(kafka: Kafka, options: Pick<KafkaConnection, 'topicPrefix'> & Partial<Pick<KafkaConnection, 'compression'>>): Promise<StreamProducer> {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: javaCompatiblePartitioner,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  });
  await producer.connect();
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
      throw sendFailure(error, count, acknowledged.size);
    }
  };
  return {
    send: (stream, records) => sendBatch([{ stream, records }]),
    sendBatch,
    close: () => producer.disconnect(),
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
