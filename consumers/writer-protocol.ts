import type { KafkaConnection } from '../core/streams/connection.js';
import type { CommonThreadMessage } from '../core/threads.js';
import type { InfluxStoreOptions } from './stores/influx.js';
import type { WriterOptions, WriterStatus } from './writer.js';

/** Messages between the main thread and the store writer's thread (writer-thread.ts). */
export interface WriterThreadInput {
  writer: WriterOptions;
  /** The main thread's connection (kafkaConnectionFrom): the thread opens its own Kafka connections with it. */
  kafka: KafkaConnection;
  influx: InfluxStoreOptions;
  logLevel: string;
}

export type ToWriterThread = { type: 'start' } | { type: 'close' };

export type FromWriterThread = CommonThreadMessage | { type: 'status'; status: WriterStatus };
