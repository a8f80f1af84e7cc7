import { describe, expect, it } from 'vitest';
import { Partitioners } from '../../support/kafka.js';
import { cachedMurmur2, murmur2, partitionForKey } from '../../../core/murmur2.js';
import { javaCompatiblePartitioner } from '../../../core/streams/kafka-producer.js';

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

describe('javaCompatiblePartitioner (the producers\' partitioner)', () => {
  const metadata = (partitions: number) =>
    Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));

  it('puts string and Buffer keys where kafkajs\'s Java-compatible partitioner does, and keeps an explicit partition', () => {
    const reference = Partitioners.DefaultPartitioner();
    const ours = javaCompatiblePartitioner();
    for (const partitions of [1, 6, 12]) {
      const partitionMetadata = metadata(partitions);
      for (let i = 0; i < 300; i++) {
        const key = `sensor-${i}`;
        const expected = reference({ topic: 't', partitionMetadata, message: { key, value: '' } });
        expect(ours({ topic: 't', partitionMetadata, message: { key, value: '' } })).toBe(expected);
        expect(ours({ topic: 't', partitionMetadata, message: { key: Buffer.from(key), value: '' } })).toBe(expected);
      }
      expect(ours({ topic: 't', partitionMetadata, message: { key: 'x', value: '', partition: partitions - 1 } })).toBe(partitions - 1);
    }
  });

  it('spreads records without a key over every partition', () => {
    const ours = javaCompatiblePartitioner();
    const seen = new Set(Array.from({ length: 12 }, () => ours({ topic: 't', partitionMetadata: metadata(4), message: { value: '' } })));
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });

  it('keeps hashing correctly after its cache of device hashes fills and is dropped', () => {
    for (let i = 0; i < 100_050; i++) cachedMurmur2(`fill-${i}`);
    for (const key of ['fill-3', 'fill-100049', 'device-new']) expect(cachedMurmur2(key)).toBe(murmur2(key));
  });
});
