import { parentPort, workerData } from 'node:worker_threads';
import { createKafkaBus } from '../../core/streams/kafka.js';
import type { KafkaConnection } from '../../core/streams/connection.js';
import { runBridgeInThread } from '../../bridge/bridge-in-thread.js';
import type { BridgeThreadInput } from '../../bridge/bridge-protocol.js';

/** What the ingest role hands the bridge's thread: the bridge's input and where the thread connects. */
export interface BridgeThreadData extends BridgeThreadInput {
  /** The main thread's connection (kafkaConnectionFrom): the thread opens its own Kafka connections with it. */
  kafka: KafkaConnection;
}

// The bridge thread's entry point (started by ingest.ts): its own Kafka producers, the bridge on top.
const data = workerData as BridgeThreadData;
runBridgeInThread(parentPort!, data, async (logger) => {
  const bus = createKafkaBus({ ...data.kafka, logger });
  const producers = await Promise.all(Array.from({ length: data.producers }, () => bus.createProducer()));
  return { producers, close: () => bus.close() };
});
