import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../core/config.js';

describe('loadConfig', () => {
  it('uses the documented defaults and the embedded mode on an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ mode: 'embedded', MQTT_PORT: 1883, MQTT_WS_PORT: 8083, DASHBOARD_PORT: 8080, DATA_DIR: './data', KAFKA_TOPIC_PREFIX: 'iot', LOG_LEVEL: 'info' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('switches to production when both KAFKA_BROKERS and INFLUX_URL are set', () => {
    const config = loadConfig({ KAFKA_BROKERS: 'a:9092, b:9093', INFLUX_URL: 'http://127.0.0.1:8086' });
    expect(config.mode).toBe('production');
    expect(config.kafkaBrokers).toEqual(['a:9092', 'b:9093']);
  });

  it('names every bad variable in one message', () => {
    try {
      loadConfig({ MQTT_PORT: 'abc', KAFKA_PARTITIONS: '0', LOG_LEVEL: 'loud' });
      expect.unreachable('loadConfig should have thrown');
    } catch (error) {
      const message = (error as Error).message;
      expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
      expect(message).toContain('MQTT_PORT');
      expect(message).toContain('KAFKA_PARTITIONS');
      expect(message).toContain('LOG_LEVEL');
    }
  });

  it('refuses half a production setup', () => {
    expect(() => loadConfig({ KAFKA_BROKERS: '127.0.0.1:9092' })).toThrow(/KAFKA_BROKERS and INFLUX_URL go together/);
    expect(() => loadConfig({ KAFKA_BROKERS: 'nohost', INFLUX_URL: 'http://x' })).toThrow(/not host:port/);
  });

  it('takes KAFKA_BROKERS alone for a command that brings its own store (sluice bench), still checking it', () => {
    expect(loadConfig({ KAFKA_BROKERS: '127.0.0.1:9092' }, { kafkaNeedsStore: false }).kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(loadConfig({}, { kafkaNeedsStore: false }).kafkaBrokers).toEqual([]);
    expect(() => loadConfig({ KAFKA_BROKERS: 'nohost' }, { kafkaNeedsStore: false })).toThrow(/not host:port/);
  });

  it('takes KAFKA_WRITER_GROUP when it is a valid group id, and refuses one that is not', () => {
    expect(loadConfig({}).KAFKA_WRITER_GROUP).toBeUndefined();
    expect(loadConfig({ KAFKA_WRITER_GROUP: '' }).KAFKA_WRITER_GROUP).toBeUndefined();
    expect(loadConfig({ KAFKA_WRITER_GROUP: ' sluice-writer ' }).KAFKA_WRITER_GROUP).toBe('sluice-writer');
    expect(() => loadConfig({ KAFKA_WRITER_GROUP: 'my writers' })).toThrow(/KAFKA_WRITER_GROUP.*letters, digits/);
    expect(() => loadConfig({ KAFKA_WRITER_GROUP: 'x'.repeat(250) })).toThrow(/KAFKA_WRITER_GROUP/);
  });

  it('takes the forward sinks\' settings and refuses a server or topic of the wrong shape, naming each', () => {
    const config = loadConfig({ RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672/', KINESIS_STREAM: 'readings', PULSAR_URL: 'http://127.0.0.1:8080' });
    expect(config).toMatchObject({ RABBITMQ_QUEUE_TYPE: 'classic', KINESIS_BATCH_RECORDS: 500, PULSAR_LINGER_MS: 20, FORWARDER_UNREADY_AFTER_MS: 60_000 });
    expect(loadConfig({ PULSAR_TOPIC: 'non-persistent://t/ns/readings' }).PULSAR_TOPIC).toBe('non-persistent://t/ns/readings');
    expect(() => loadConfig({ RABBITMQ_URL: 'http://127.0.0.1:5672' })).toThrow(/RABBITMQ_URL must be an amqp/);
    expect(() => loadConfig({ PULSAR_URL: 'pulsar://127.0.0.1:6650' })).toThrow(/PULSAR_URL must be the broker's http/);
    expect(() => loadConfig({ PULSAR_TOPIC: 'readings' })).toThrow(/PULSAR_TOPIC must be persistent:/);
    expect(() => loadConfig({ KINESIS_BATCH_RECORDS: '501' })).toThrow(/KINESIS_BATCH_RECORDS/);
    expect(() => loadConfig({ KINESIS_STREAM: 'my stream' })).toThrow(/KINESIS_STREAM/);
  });
});
