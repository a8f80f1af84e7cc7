import type { CommonThreadMessage } from '../core/threads.js';
import type { InfluxStoreOptions } from './stores/influx.js';
import type { WriterOptions, WriterStatus } from './writer.js';

/** Messages between the main thread and the store writer's thread (writer-thread.ts). */
export interface WriterThreadInput {
  writer: WriterOptions;
  kafka: { brokers: string[]; clientId: string; topicPrefix: string; partitions: number; replicationFactor: number; compression: 'none' | 'gzip' };
  influx: InfluxStoreOptions;
  logLevel: string;
}

export type ToWriterThread = { type: 'start' } | { type: 'close' };

export type FromWriterThread = CommonThreadMessage | { type: 'status'; status: WriterStatus };
