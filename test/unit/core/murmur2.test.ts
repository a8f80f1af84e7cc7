import { describe, expect, it } from 'vitest';
import { Partitioners } from 'kafkajs';
import { partitionForKey } from '../../../core/murmur2.js';

describe('partitionForKey', () => {
  it('agrees with the Java-compatible kafkajs partitioner for many keys and partition counts', () => {
    const partitioner = Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 6, 12, 100]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
      for (let i = 0; i < 500; i++) {
        const key = `device-${i}-${'x'.repeat(i % 7)}`;
        const expected = partitioner({ topic: 't', partitionMetadata, message: { key, value: '' } });
        expect(partitionForKey(key, partitions), `${key} over ${partitions}`).toBe(expected);
      }
    }
  });

  it('matches known values of the Java client', () => {
    // Values from Kafka's own Utils.murmur2 test vectors, reduced over 1000 partitions.
    expect(partitionForKey('21', 1000)).toBe(((-973932308 & 0x7fffffff) % 1000));
    expect(partitionForKey('foobar', 1000)).toBe(((-790332482 & 0x7fffffff) % 1000));
  });
});
