import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeviceRegistry } from '../../../core/registry/registry.js';
import { fileRegistryBacking, registryPath } from '../../../core/registry/file-backing.js';
import { tableRegistryBacking } from '../../../core/registry/table-backing.js';
import { createEmbeddedBus } from '../../../core/streams/embedded.js';
import type { TableRecord } from '../../../core/seams.js';
import { registryContract } from '../../support/registry-contract.js';

registryContract('DATA_DIR/devices.json', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-registry-'));
  const registry = () => createDeviceRegistry(fileRegistryBacking(dataDir, { pollMs: 20 }));
  const a = registry();
  const b = registry();
  return {
    a,
    b,
    rawText: () => readFile(registryPath(dataDir), 'utf8'),
    async writeGarbage(id) {
      const file = JSON.parse(await readFile(registryPath(dataDir), 'utf8')) as { devices: Record<string, unknown> };
      file.devices[id] = { hash: 'md5$abc', createdAt: 7 };
      await writeFile(registryPath(dataDir), JSON.stringify(file));
    },
    close: async () => void (await Promise.all([a.close(), b.close()])),
  };
});

// The Kafka registry's logic over the embedded queue's table; test/integration/registry-kafka.test.ts runs the
// same contract on a real Kafka topic.
registryContract('a compacted table (embedded queue)', async () => {
  const bus = createEmbeddedBus({ partitions: 2 });
  const registry = () => createDeviceRegistry(tableRegistryBacking(bus.openTable('devices')));
  const a = registry();
  const b = registry();
  return {
    a,
    b,
    async rawText() {
      const seen: TableRecord[] = [];
      const reader = bus.openTable('devices');
      await reader.follow((records) => seen.push(...records));
      await reader.close();
      return seen.map((record) => `${record.key} ${record.value?.toString('utf8') ?? 'null'}`).join('\n');
    },
    writeGarbage: (id) => bus.openTable('devices').write([{ key: id, value: '{"v": 9, "hash": "from the future"}' }]),
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await bus.close();
    },
  };
});
