import { describe, expect, it } from 'vitest';
import { createKafkaLagSource, groupLag, partitionLag } from '../../../core/streams/kafka-lag.js';
import { createEmbeddedLagSource } from '../../../core/streams/embedded.js';

describe('partitionLag', () => {
  it('is the end offset minus the committed one, or the whole retained range when nothing is committed', () => {
    expect(partitionLag('90', '0', '100')).toBe(10);
    expect(partitionLag('-1', '40', '100')).toBe(60);
    expect(partitionLag('100', '0', '100')).toBe(0);
  });

  it('is never negative, and stays exact past 2^53 offsets', () => {
    expect(partitionLag('120', '0', '100')).toBe(0);
    expect(partitionLag('9007199254740993', '0', '9007199254741003')).toBe(10);
  });
});

describe('groupLag', () => {
  it('reports every partition of the topic in order, with what the group committed and the total', () => {
    const ends = [
      { partition: 2, low: '0', high: '30' },
      { partition: 0, low: '0', high: '10' },
      { partition: 1, low: '5', high: '20' },
    ];
    const committed = [
      { partition: 0, offset: '10' },
      { partition: 2, offset: '25' },
    ];
    expect(groupLag('sluice-iot-writer', 'iot.telemetry', ends, committed)).toEqual({
      groupId: 'sluice-iot-writer',
      topic: 'iot.telemetry',
      totalLag: 20,
      partitions: [
        { partition: 0, committed: '10', end: '10', lag: 0 },
        // Nothing committed (absent or -1): null, and the whole retained range is ahead.
        { partition: 1, committed: null, end: '20', lag: 15 },
        { partition: 2, committed: '25', end: '30', lag: 5 },
      ],
    });
    expect(groupLag('g', 't', [{ partition: 0, low: '0', high: '7' }], [{ partition: 0, offset: '-1' }]).partitions[0]).toEqual({ partition: 0, committed: null, end: '7', lag: 7 });
  });
});

describe('Kafka lag source', () => {
  it('answers "not available" with the reason when Kafka cannot be reached; reads within cacheMs share one request', async () => {
    const lag = createKafkaLagSource({ brokers: ['127.0.0.1:1'], clientId: 'lag-test', topicPrefix: 'iot' }, { groups: [{ groupId: 'sluice-iot-writer', stream: 'telemetry' }], cacheMs: 60_000 });
    try {
      expect(lag.kind).toBe('kafka');
      const first = lag.read();
      expect(lag.read()).toBe(first);
      const report = await first;
      expect(report).toMatchObject({ available: false, groups: [] });
      expect(report.note).toMatch(/^Kafka admin: /);
    } finally {
      await lag.close();
    }
  }, 30_000);
});

describe('embedded lag source', () => {
  it('reports no lag and says why, as the pipeline view shows it', async () => {
    const lag = createEmbeddedLagSource();
    expect(lag.kind).toBe('embedded');
    expect(await lag.read()).toEqual({ available: false, note: 'embedded mode: the in-process queue has no consumer lag to report', groups: [] });
    await lag.close();
  });
});
