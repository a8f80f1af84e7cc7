import type { Config } from '../config.js';
import { FORWARD_SINK_NAMES, type ForwardSinkName, type StreamName, type TableName } from '../seams.js';

/**
 * How this deployment reaches Kafka and names what it keeps there, built once from the configuration
 * (kafkaConnectionFrom) and handed to everything that opens Kafka connections: the bus, the bridge and writer
 * threads, the consumer lag source, replay and the bench. Plain data, so it crosses to a worker thread
 * (workerData / postMessage) as it is; no kafkajs here, so naming a topic or a group loads no client.
 */
export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Topics are `{prefix}.{stream}` (topicName); one prefix per deployment sharing a Kafka cluster. */
  readonly topicPrefix: string;
  /** Partitions and replication factor of the topics Sluice creates. */
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Record batch compression; kafkajs brings gzip itself (snappy, lz4 and zstd need native codecs). */
  readonly compression: 'none' | 'gzip';
  /** The store writer's consumer group (consumerGroupId). */
  readonly writerGroupId: string;
  /** The rules stage's consumer group. */
  readonly rulesGroupId: string;
  /** Each forward sink's consumer group. */
  readonly sinkGroupIds: Readonly<Record<ForwardSinkName, string>>;
}

export type KafkaConnectionConfig = Pick<
  Config,
  'kafkaBrokers' | 'KAFKA_CLIENT_ID' | 'KAFKA_TOPIC_PREFIX' | 'KAFKA_PARTITIONS' | 'KAFKA_REPLICATION_FACTOR' | 'KAFKA_COMPRESSION' | 'KAFKA_WRITER_GROUP' | 'KAFKA_RULES_GROUP'
>;

/** The one place Kafka settings are read from the configuration; frozen, like the configuration itself. */
export function kafkaConnectionFrom(config: KafkaConnectionConfig): KafkaConnection {
  return Object.freeze({
    brokers: Object.freeze([...config.kafkaBrokers]),
    clientId: config.KAFKA_CLIENT_ID,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    partitions: config.KAFKA_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    compression: config.KAFKA_COMPRESSION,
    writerGroupId: consumerGroupId(config, 'writer'),
    rulesGroupId: consumerGroupId(config, 'rules'),
    sinkGroupIds: Object.freeze(Object.fromEntries(FORWARD_SINK_NAMES.map((sink) => [sink, consumerGroupId(config, sink)])) as Record<ForwardSinkName, string>),
  });
}

/** The consumer groups of a deployment: the store writer, the rules stage and one per forward sink. */
export type ConsumerGroupOf = 'writer' | 'rules' | ForwardSinkName;

/**
 * A consumer group's id, the one place one is spelled out (the connection carries them to the wiring, the threads and
 * the dashboard's lag; tests call this). `{client id}-{prefix}-{stage}`, or KAFKA_WRITER_GROUP / KAFKA_RULES_GROUP;
 * a forward sink's group is `{client id}-{prefix}-sink-{sink}` (docs/contracts.md §6, §16). It includes the topic
 * prefix: two deployments sharing a Kafka cluster and a client id never share a group, which would hand each member
 * the other's partitions (and kafkajs drops those, unread).
 */
export function consumerGroupId(
  config: Pick<Config, 'KAFKA_CLIENT_ID' | 'KAFKA_TOPIC_PREFIX' | 'KAFKA_WRITER_GROUP' | 'KAFKA_RULES_GROUP'>,
  of: ConsumerGroupOf,
): string {
  const base = `${config.KAFKA_CLIENT_ID}-${config.KAFKA_TOPIC_PREFIX}`;
  if (of === 'writer') return config.KAFKA_WRITER_GROUP ?? `${base}-writer`;
  if (of === 'rules') return config.KAFKA_RULES_GROUP ?? `${base}-rules`;
  return `${base}-sink-${of}`;
}

/** A stream's topic in Kafka (docs/contracts.md §6: `{prefix}.telemetry`, …). */
export function topicName(prefix: string, stream: StreamName): string {
  return `${prefix}.${stream}`;
}

/** A table's topic in Kafka: `{prefix}.devices`. */
export function tableTopicName(prefix: string, table: TableName): string {
  return `${prefix}.${table}`;
}
