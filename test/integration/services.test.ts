/**
 * Proves the services from global setup are real and usable the way the pipeline uses them: Kafka keeps a
 * keyed record, and the store accepts the InfluxDB v2 line protocol write and gives the point back.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Kafka, Partitioners, logLevel, type EachMessagePayload } from '../support/kafka.js';
import { describe, expect, inject, it } from 'vitest';

const kafkaBrokers = inject('kafkaBrokers');
const influxUrl = inject('influxUrl');

describe('test services', () => {
  it('exposes the same addresses to workers through env and inject', () => {
    expect(process.env.KAFKA_BROKERS).toBe(kafkaBrokers);
    expect(process.env.INFLUX_URL).toBe(influxUrl);
  });

  it('kafka stores a keyed record on a new topic and hands it back to a consumer', async () => {
    const kafka = new Kafka({ clientId: 'services-test', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    const topic = `services-test-${randomUUID()}`;
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const consumer = kafka.consumer({ groupId: `services-test-${randomUUID()}` });
    try {
      await admin.connect();
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);

      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [{ key: 'd1', value: '{"metric":"temperature","value":21.5}' }] });

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<EachMessagePayload['message']>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message) });
      });
      const message = await received;
      expect(message.key?.toString()).toBe('d1');
      expect(message.value?.toString()).toBe('{"metric":"temperature","value":21.5}');
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('victoria-metrics accepts an InfluxDB v2 write and exports the point with its tag and timestamp', async () => {
    const write = await fetch(`${influxUrl}/api/v2/write?org=o&bucket=b&precision=ms`, {
      method: 'POST',
      body: 'svc_check,device=d1 value=42 1732492800123',
    });
    expect(write.status).toBe(204);
    await fetch(`${influxUrl}/internal/force_flush`);

    // Reruns write the same point again; whether the store keeps one or two copies is not what this proves.
    const series = await pollExport('svc_check_value', 15_000);
    expect(series.metric).toMatchObject({ __name__: 'svc_check_value', device: 'd1' });
    const points = series.timestamps.map((ts, i) => [ts, series.values[i]]);
    expect(points).toContainEqual([1732492800123, 42]);
  });
});

interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

/** Export answers empty until the write is searchable, so ask until it is there or the deadline passes. */
async function pollExport(name: string, timeoutMs: number): Promise<ExportedSeries> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${influxUrl}/api/v1/export?match[]=${name}&start=0`);
    const body = await response.text();
    const line = body.split('\n').find((l) => l.trim() !== '');
    if (response.ok && line) return JSON.parse(line) as ExportedSeries;
    if (Date.now() >= deadline) throw new Error(`${name} not exported within ${timeoutMs} ms (status ${response.status}: ${body})`);
    await delay(100);
  }
}
