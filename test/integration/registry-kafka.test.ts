import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { createDeviceRegistry } from '../../core/registry/registry.js';
import { tableRegistryBacking } from '../../core/registry/table-backing.js';
import { createKafkaBus } from '../../core/streams/kafka.js';
import { tableTopicName } from '../../core/streams/connection.js';
import { capturedLogger } from '../support/logs.js';
import { ConfigResourceTypes, Kafka, logLevel } from '../support/kafka.js';
import type { TableRecord } from '../../core/seams.js';
import { registryContract } from '../support/registry-contract.js';

const kafkaBrokers = inject('kafkaBrokers');
const newPrefix = () => `reg${randomBytes(4).toString('hex')}`;
const busFor = (prefix: string) =>
  createKafkaBus({ brokers: kafkaBrokers.split(','), clientId: `sluice-${prefix}`, topicPrefix: prefix, partitions: 3, replicationFactor: 1, logger: capturedLogger('warn').logger });

registryContract('the compacted Kafka topic {prefix}.devices', async () => {
  const prefix = newPrefix();
  // Two processes: each its own Kafka client, as a gateway and `sluice devices` have.
  const buses = [busFor(prefix), busFor(prefix)];
  const [a, b] = buses.map((bus) => createDeviceRegistry(tableRegistryBacking(bus.openTable('devices'))));
  const producerBus = busFor(prefix);
  return {
    a: a!,
    b: b!,
    async rawText() {
      const seen: TableRecord[] = [];
      const reader = producerBus.openTable('devices');
      await reader.follow((records) => seen.push(...records));
      await reader.close();
      return seen.map((record) => `${record.key} ${record.value?.toString('utf8') ?? 'null'}`).join('\n');
    },
    writeGarbage: (id) => producerBus.openTable('devices').write([{ key: id, value: 'not json {' }]),
    async close() {
      await Promise.all([a!.close(), b!.close()]);
      for (const bus of [...buses, producerBus]) await bus.close();
    },
  };
});

describe('the Kafka registry topic', () => {
  it('is created compacted with one partition by the first registry that opens it', async () => {
    const prefix = newPrefix();
    const bus = busFor(prefix);
    const registry = createDeviceRegistry(tableRegistryBacking(bus.openTable('devices')));
    try {
      await registry.open();
      expect(registry.health()).toEqual({ ready: true });
      const kafka = new Kafka({ clientId: 'registry-test', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      try {
        const topic = tableTopicName(prefix, 'devices');
        const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
        expect(metadata?.partitions).toHaveLength(1);
        const configs = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }], includeSynonyms: false });
        expect(configs.resources[0]?.configEntries[0]?.configValue).toBe('compact');
      } finally {
        await admin.disconnect();
      }
    } finally {
      await registry.close();
      await bus.close();
    }
  });

  it('a tombstone for a device nobody registered changes nothing and tells no one', async () => {
    const prefix = newPrefix();
    const bus = busFor(prefix);
    const registry = createDeviceRegistry(tableRegistryBacking(bus.openTable('devices')));
    try {
      await registry.open();
      const [created] = await registry.add(['known-1']);
      const changes: unknown[] = [];
      registry.onChange((change) => changes.push(change));
      await bus.openTable('devices').write([{ key: 'never-registered', value: null }]);
      // A later registration in the same (single-partition) topic marks when the tombstone has been read.
      const other = createDeviceRegistry(tableRegistryBacking(busFor(prefix).openTable('devices')));
      await other.open();
      await other.add(['marker-1']);
      await expect.poll(() => registry.get('marker-1') !== undefined, { timeout: 5000 }).toBe(true);
      expect(changes).toEqual([]);
      expect(await registry.verify('known-1', created!.secret)).toBe(true);
      expect(registry.health().ready).toBe(true);
      await other.close();
    } finally {
      await registry.close();
      await bus.close();
    }
  });

  it('a topic that is not compacted is used, and readiness says why it must be fixed', async () => {
    const prefix = newPrefix();
    const kafka = new Kafka({ clientId: 'registry-test', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: tableTopicName(prefix, 'devices'), numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] }] });
    await admin.disconnect();
    const bus = busFor(prefix);
    const { logger, lines } = capturedLogger('warn');
    const registry = createDeviceRegistry(tableRegistryBacking(bus.openTable('devices'), { logger }), { logger });
    try {
      await registry.open();
      const [created] = await registry.add(['dev-1']);
      expect(await registry.verify('dev-1', created!.secret)).toBe(true);
      expect(registry.health().note).toMatch(/cleanup\.policy=delete, not compact/);
    } finally {
      await registry.close();
      await bus.close();
    }
    void lines;
  });
});
