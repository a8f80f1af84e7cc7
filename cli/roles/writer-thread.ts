import { parentPort, workerData } from 'node:worker_threads';
import { createKafkaBus } from '../../core/streams/kafka.js';
import type { KafkaConnection } from '../../core/streams/connection.js';
import { createInfluxStore, type InfluxStoreOptions } from '../../consumers/stores/influx.js';
import { runWriterInThread } from '../../consumers/writer-in-thread.js';
import type { WriterThreadInput } from '../../consumers/writer-protocol.js';

/** What the writer role hands its thread: the writer's input and where the thread connects. */
export interface WriterThreadData extends WriterThreadInput {
  /** The main thread's connection (kafkaConnectionFrom): the thread opens its own Kafka connections with it. */
  kafka: KafkaConnection;
  influx: InfluxStoreOptions;
}

// The writer thread's entry point (started by writer.ts): its own Kafka bus and InfluxDB client, the writer on top.
const data = workerData as WriterThreadData;
runWriterInThread(parentPort!, data, (logger) => ({ bus: createKafkaBus({ ...data.kafka, logger }), store: createInfluxStore(data.influx) }));
