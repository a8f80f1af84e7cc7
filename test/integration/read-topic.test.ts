/**
 * The tests' topic reader (test/support/kafka.ts readTopic) must keep up with the topics the tests write. Its stop
 * condition looks at every record seen so far; asked once per record that is quadratic, and the bridge-outage test's
 * 12,000-record read under load timed out while Kafka held every record, which read as acknowledged readings lost.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { Kafka, Partitioners, logLevel, readTopic, type KafkaRecord } from '../support/kafka.js';

const kafkaBrokers = inject('kafkaBrokers');

describe('readTopic', () => {
  it('asks its stop condition once per fetched batch, not once per record, and returns every record with its partition', async () => {
    const kafka = new Kafka({ clientId: 'read-topic-test', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    const topic = `read-topic-test-${randomUUID()}`;
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const sends = 5;
    const perSend = 1000;
    const total = sends * perSend;
    try {
      await admin.connect();
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
      await producer.connect();
      // Each send is one record batch per partition in Kafka: at most 2 × 5 batches to fetch.
      for (let s = 0; s < sends; s++) {
        const messages = Array.from({ length: perSend }, (_, i) => ({ key: `d${i % 2}`, value: JSON.stringify({ value: s * perSend + i }), partition: i % 2 }));
        await producer.send({ topic, acks: -1, messages });
      }

      let asked = 0;
      const distinct = (rs: KafkaRecord[]) => new Set(rs.map((r) => (JSON.parse(r.value) as { value: number }).value)).size;
      const records = await readTopic(kafkaBrokers, topic, (rs) => {
        asked++;
        return distinct(rs) >= total;
      });

      expect(distinct(records)).toBe(total);
      for (const r of records) expect(r.partition).toBe(Number(r.key.slice(1)));
      // Asked per record, this was 5,000 calls (12.5 million parses); per fetched batch it is at most the 10 batches.
      expect(asked).toBeLessThanOrEqual(2 * sends);
    } finally {
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
