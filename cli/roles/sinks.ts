import type { Config } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';
import { FORWARD_SINK_NAMES, type ForwardSinkName, type Sink } from '../../core/seams.js';

/**
 * The registry of forward sinks (docs/contracts.md §16): for each, the variable that turns it on, how its records are
 * batched, and how it is opened. Adding a sink is a file in consumers/sinks/ and an entry here. A sink's module (and
 * its client library) is loaded only when the sink is configured.
 */
interface ForwardSinkEntry {
  /** The variable whose presence turns the sink on, for messages. */
  switch: string;
  configured(config: Readonly<Config>): boolean;
  batch(config: Readonly<Config>): { records: number; lingerMs: number };
  open(config: Readonly<Config>, logger: Logger): Promise<Sink>;
}

const FORWARD_SINKS: Readonly<Record<ForwardSinkName, ForwardSinkEntry>> = {
  rabbitmq: {
    switch: 'RABBITMQ_URL',
    configured: (config) => config.RABBITMQ_URL !== undefined,
    batch: (config) => ({ records: config.RABBITMQ_BATCH_RECORDS, lingerMs: config.RABBITMQ_LINGER_MS }),
    async open(config, logger) {
      const { createRabbitmqSink } = await import('../../consumers/sinks/rabbitmq.js');
      const queue = config.RABBITMQ_QUEUE ?? `${config.KAFKA_TOPIC_PREFIX}.telemetry`;
      return createRabbitmqSink(
        {
          url: config.RABBITMQ_URL!,
          exchange: config.RABBITMQ_EXCHANGE ?? `${config.KAFKA_TOPIC_PREFIX}.telemetry`,
          ...(queue === 'none' ? {} : { queue }),
          queueType: config.RABBITMQ_QUEUE_TYPE,
          maxRecords: config.RABBITMQ_BATCH_RECORDS,
        },
        { logger },
      );
    },
  },
  kinesis: {
    switch: 'KINESIS_STREAM',
    configured: (config) => config.KINESIS_STREAM !== undefined,
    batch: (config) => ({ records: config.KINESIS_BATCH_RECORDS, lingerMs: config.KINESIS_LINGER_MS }),
    async open(config, logger) {
      const { createKinesisSink } = await import('../../consumers/sinks/kinesis.js');
      return createKinesisSink(
        { stream: config.KINESIS_STREAM!, ...(config.KINESIS_ENDPOINT ? { endpoint: config.KINESIS_ENDPOINT } : {}), maxRecords: config.KINESIS_BATCH_RECORDS },
        { logger },
      );
    },
  },
  pulsar: {
    switch: 'PULSAR_URL',
    configured: (config) => config.PULSAR_URL !== undefined,
    batch: (config) => ({ records: config.PULSAR_BATCH_RECORDS, lingerMs: config.PULSAR_LINGER_MS }),
    async open(config, logger) {
      const { createPulsarSink } = await import('../../consumers/sinks/pulsar.js');
      return createPulsarSink(
        {
          url: config.PULSAR_URL!,
          topic: pulsarTopic(config),
          ...(config.PULSAR_TOKEN ? { token: config.PULSAR_TOKEN } : {}),
          maxRecords: config.PULSAR_BATCH_RECORDS,
        },
        { logger },
      );
    },
  },
};

/** `PULSAR_TOPIC`, else `persistent://public/default/{prefix}.telemetry`. */
export function pulsarTopic(config: Pick<Config, 'PULSAR_TOPIC' | 'KAFKA_TOPIC_PREFIX'>): string {
  return config.PULSAR_TOPIC ?? `persistent://public/default/${config.KAFKA_TOPIC_PREFIX}.telemetry`;
}

/** The forward sinks this configuration turns on, in the registry's order. */
export function configuredSinks(config: Readonly<Config>): ForwardSinkName[] {
  return FORWARD_SINK_NAMES.filter((name) => FORWARD_SINKS[name].configured(config));
}

/** The variables that turn the sinks on, for the message of a forwarder started without any. */
export const SINK_SWITCHES: readonly string[] = FORWARD_SINK_NAMES.map((name) => FORWARD_SINKS[name].switch);

export function forwardSink(name: ForwardSinkName): ForwardSinkEntry {
  return FORWARD_SINKS[name];
}
