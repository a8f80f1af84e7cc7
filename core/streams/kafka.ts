import { Kafka, logLevel as KafkaLogLevel, type LogEntry } from './kafkajs.js';
import type { Logger } from '../logger.js';
import type { StreamBus } from '../seams.js';
import { ensureTopics, lazyAdmin } from './kafka-admin.js';
import { createKafkaProducer } from './kafka-producer.js';
import { createKafkaStreamConsumer } from './kafka-consumer.js';
import { readCompactedPartitions } from './kafka-history.js';
import { createKafkaTable } from './kafka-table.js';
import type { KafkaConnection } from './connection.js';

/**
 * kafkajs behind the StreamBus seam, laid out as kafkajs lays itself out: this file wires one client to
 * ./kafka-admin.ts (the bus's one lazy admin, topic creation, retries of admin calls), ./kafka-producer.ts,
 * ./kafka-consumer.ts, ./kafka-history.ts (reading ranges once: restore and replay) and ./kafka-errors.ts (Kafka
 * errors as Sluice coded errors). The rest of Sluice never imports kafkajs (lint enforces it), so the client can be
 * swapped (or its quirks fixed) in core/streams/ alone.
 */

/** A KafkaConnection (kafkaConnectionFrom) and a logger; compression defaults to none. */
export type KafkaBusOptions = Pick<KafkaConnection, 'brokers' | 'clientId' | 'topicPrefix' | 'partitions' | 'replicationFactor'> &
  Partial<Pick<KafkaConnection, 'compression'>> & { logger: Logger };

export function createKafkaBus(options: KafkaBusOptions): StreamBus {
  const log = options.logger.child({ module: 'kafka' });
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry: LogEntry) => forwardKafkaLog(log, entry),
    retry: { initialRetryTime: 200, retries: 8 },
  });
  const admin = lazyAdmin(kafka);
  // Producers and consumers still open, closed with the bus (newest first) unless closed before.
  const closers = new Set<() => Promise<void>>();
  function closedWithBus<T extends { close(): Promise<void> }>(resource: T): T {
    const close = async (): Promise<void> => {
      closers.delete(close);
      await resource.close();
    };
    closers.add(close);
    return { ...resource, close };
  }

  return {
    kind: 'kafka',

    async ensureStreams() {
      await ensureTopics(await admin.get(), options, log);
    },

    async createProducer() {
      return closedWithBus(await createKafkaProducer(kafka, options));
    },

    async readPartitions(stream, partitions, onRecords) {
      await readCompactedPartitions(kafka, await admin.get(), options, stream, partitions, onRecords);
    },

    openTable(table) {
      return closedWithBus(createKafkaTable(kafka, options, table, log));
    },

    createConsumer(consumerOptions) {
      return closedWithBus(createKafkaStreamConsumer(kafka, options, consumerOptions, log));
    },

    async ping() {
      try {
        await (await admin.get()).describeCluster();
        return true;
      } catch {
        return false;
      }
    },

    async close() {
      for (const close of [...closers].reverse()) await close();
      await admin.close();
    },
  };
}

function forwardKafkaLog(log: Logger, entry: LogEntry): void {
  const { message, ...rest } = entry.log;
  // Our limited producer retries are deliberate (see ./kafka-producer.ts): the batcher retries on top.
  if (message.startsWith('Limiting retries for the idempotent producer')) return;
  const level = entry.level === KafkaLogLevel.ERROR ? 'error' : entry.level === KafkaLogLevel.WARN ? 'warn' : 'debug';
  log[level]({ kafkaModule: entry.namespace, ...rest }, message);
}
