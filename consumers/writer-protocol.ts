import type { MetricUpdate } from '../core/threads.js';
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

export type FromWriterThread =
  | { type: 'started' }
  | { type: 'start-failed'; message: string }
  | { type: 'status'; status: WriterStatus }
  | { type: 'metric'; update: MetricUpdate }
  /** One pino JSON line, logged again by the main thread's logger. */
  | { type: 'log'; line: string }
  | { type: 'closed' };
