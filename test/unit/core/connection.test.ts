import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../core/config.js';
import { consumerGroupId, kafkaConnectionFrom, topicName } from '../../../core/streams/connection.js';

const production = { KAFKA_BROKERS: 'k1:9092, k2:9093', INFLUX_URL: 'http://127.0.0.1:8086' };

describe('kafkaConnectionFrom', () => {
  it('takes every Kafka setting from the configuration', () => {
    const connection = kafkaConnectionFrom(
      loadConfig({
        ...production,
        KAFKA_CLIENT_ID: 'edge',
        KAFKA_TOPIC_PREFIX: 'plant-a',
        KAFKA_PARTITIONS: '12',
        KAFKA_REPLICATION_FACTOR: '3',
        KAFKA_COMPRESSION: 'gzip',
      }),
    );
    expect(connection).toEqual({
      brokers: ['k1:9092', 'k2:9093'],
      clientId: 'edge',
      topicPrefix: 'plant-a',
      partitions: 12,
      replicationFactor: 3,
      compression: 'gzip',
      writerGroupId: 'edge-plant-a-writer',
      rulesGroupId: 'edge-plant-a-rules',
      sinkGroupIds: { rabbitmq: 'edge-plant-a-sink-rabbitmq', kinesis: 'edge-plant-a-sink-kinesis', pulsar: 'edge-plant-a-sink-pulsar' },
    });
  });

  it('uses the documented defaults', () => {
    expect(kafkaConnectionFrom(loadConfig(production))).toEqual({
      brokers: ['k1:9092', 'k2:9093'],
      clientId: 'sluice',
      topicPrefix: 'iot',
      partitions: 6,
      replicationFactor: 1,
      compression: 'none',
      writerGroupId: 'sluice-iot-writer',
      rulesGroupId: 'sluice-iot-rules',
      sinkGroupIds: { rabbitmq: 'sluice-iot-sink-rabbitmq', kinesis: 'sluice-iot-sink-kinesis', pulsar: 'sluice-iot-sink-pulsar' },
    });
    // The embedded mode has no brokers, and still a writer group (its in-process queue has groups too).
    expect(kafkaConnectionFrom(loadConfig({}))).toMatchObject({ brokers: [], writerGroupId: 'sluice-iot-writer' });
  });

  it('carries KAFKA_RULES_GROUP as the rules group when it is set', () => {
    expect(kafkaConnectionFrom(loadConfig({ ...production, KAFKA_RULES_GROUP: 'plant-rules' })).rulesGroupId).toBe('plant-rules');
  });

  it('carries KAFKA_WRITER_GROUP as the writer group when it is set', () => {
    expect(kafkaConnectionFrom(loadConfig({ ...production, KAFKA_TOPIC_PREFIX: 'lab', KAFKA_WRITER_GROUP: 'sluice-writer' })).writerGroupId).toBe('sluice-writer');
  });

  it('is frozen plain data that crosses to a worker thread unchanged', () => {
    const connection = kafkaConnectionFrom(loadConfig(production));
    expect(Object.isFrozen(connection)).toBe(true);
    expect(Object.isFrozen(connection.brokers)).toBe(true);
    expect(structuredClone(connection)).toEqual(connection);
  });
});

describe('consumerGroupId', () => {
  it('includes the topic prefix by default, so deployments sharing a Kafka cluster and a client id never share a group', () => {
    expect(consumerGroupId(loadConfig({}), 'writer')).toBe('sluice-iot-writer');
    const plant = consumerGroupId(loadConfig({ KAFKA_TOPIC_PREFIX: 'plant-a' }), 'writer');
    const lab = consumerGroupId(loadConfig({ KAFKA_TOPIC_PREFIX: 'lab' }), 'writer');
    expect(plant).toBe('sluice-plant-a-writer');
    expect(lab).not.toBe(plant);
    expect(consumerGroupId({ KAFKA_CLIENT_ID: 'edge', KAFKA_TOPIC_PREFIX: 'iot' }, 'writer')).toBe('edge-iot-writer');
  });

  it('is KAFKA_WRITER_GROUP when that is set', () => {
    expect(consumerGroupId(loadConfig({ KAFKA_WRITER_GROUP: 'sluice-writer', KAFKA_TOPIC_PREFIX: 'lab' }), 'writer')).toBe('sluice-writer');
  });

  it('gives the rules stage and each forward sink a group of their own per deployment', () => {
    const config = loadConfig({ KAFKA_CLIENT_ID: 'edge', KAFKA_TOPIC_PREFIX: 'plant-a' });
    expect(consumerGroupId(config, 'rules')).toBe('edge-plant-a-rules');
    expect(consumerGroupId(loadConfig({ KAFKA_RULES_GROUP: 'my-rules' }), 'rules')).toBe('my-rules');
    const sinks = (['rabbitmq', 'kinesis', 'pulsar'] as const).map((sink) => consumerGroupId(config, sink));
    expect(sinks).toEqual(['edge-plant-a-sink-rabbitmq', 'edge-plant-a-sink-kinesis', 'edge-plant-a-sink-pulsar']);
    expect(new Set([...sinks, consumerGroupId(config, 'writer'), consumerGroupId(config, 'rules')]).size).toBe(5);
  });
});

describe('topicName', () => {
  it('is {prefix}.{stream}', () => {
    expect(topicName('iot', 'telemetry')).toBe('iot.telemetry');
    expect(topicName('plant-a', 'deadletter')).toBe('plant-a.deadletter');
  });
});
