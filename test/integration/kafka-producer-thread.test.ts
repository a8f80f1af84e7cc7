import { describe, expect, inject, it } from 'vitest';
import { createKafkaBus } from '../../core/streams/kafka.js';
import { createLogger } from '../../core/logger.js';
import { partitionForKey } from '../../core/murmur2.js';
import { readTopic } from '../support/kafka.js';

const kafkaBrokers = inject('kafkaBrokers');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

describe('kafka producer thread against the real broker', () => {
  it('delivers every record of a multi-stream batch with its key, value, timestamp and murmur2 partition', async () => {
    const prefix = `pth${runId}`;
    const bus = createKafkaBus({
      brokers: kafkaBrokers.split(','),
      clientId: `pth-${runId}`,
      topicPrefix: prefix,
      partitions: 6,
      replicationFactor: 1,
      producerThread: true,
      logger: createLogger('silent'),
    });
    const baseTs = Date.now() - 60_000;
    const telemetry = Array.from({ length: 300 }, (_, i) => ({ key: `dev-${i % 37}`, value: JSON.stringify({ seq: i }), timestamp: baseTs + i }));
    const events = [{ key: 'dev-1', value: '{"type":"connected"}', timestamp: baseTs }];
    try {
      await bus.ensureStreams();
      const producer = await bus.createProducer();
      await producer.sendBatch([
        { stream: 'telemetry', records: telemetry },
        { stream: 'events', records: events },
      ]);
    } finally {
      await bus.close();
    }

    const stored = await readTopic(kafkaBrokers, `${prefix}.telemetry`, (records) => records.length >= telemetry.length);
    expect(stored).toHaveLength(telemetry.length);
    const bySeq = new Map(stored.map((r) => [(JSON.parse(r.value) as { seq: number }).seq, r]));
    for (const [seq, sent] of telemetry.entries()) {
      const record = bySeq.get(seq);
      expect(record, `seq ${seq}`).toMatchObject({ key: sent.key, timestamp: sent.timestamp, partition: partitionForKey(sent.key, 6) });
    }
    const storedEvents = await readTopic(kafkaBrokers, `${prefix}.events`, (records) => records.length >= 1);
    expect(storedEvents).toEqual([{ key: 'dev-1', value: '{"type":"connected"}', timestamp: baseTs, partition: partitionForKey('dev-1', 6) }]);
  });
});
