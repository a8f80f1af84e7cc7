import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { DeviceRegistry, StreamBus } from '../core/seams.js';
import { createDeviceRegistry } from '../core/registry/registry.js';
import { fileRegistryBacking } from '../core/registry/file-backing.js';
import { tableRegistryBacking } from '../core/registry/table-backing.js';
import { createKafkaBus } from '../core/streams/kafka.js';
import { kafkaConnectionFrom } from '../core/streams/connection.js';

/**
 * The device registry of this deployment (docs/contracts.md §12), not yet opened: with Kafka the compacted topic
 * `{prefix}.devices` on `bus`, shared by every gateway; in embedded mode `DATA_DIR/devices.json`.
 */
export function deviceRegistryOf(config: Readonly<Config>, logger: Logger, bus: StreamBus): DeviceRegistry {
  const backing = config.mode === 'production' ? tableRegistryBacking(bus.openTable('devices'), { logger }) : fileRegistryBacking(config.DATA_DIR, { logger });
  return createDeviceRegistry(backing, { logger });
}

/**
 * For `sluice devices`, `sluice demo` and the bench: the registry opened (read to its end), with a Kafka client of
 * its own in production, closed with it.
 */
export async function openRegistryAlone(config: Readonly<Config>, logger: Logger): Promise<DeviceRegistry> {
  const bus = config.mode === 'production' ? createKafkaBus({ ...kafkaConnectionFrom(config), logger }) : undefined;
  const registry = bus ? deviceRegistryOf(config, logger, bus) : createDeviceRegistry(fileRegistryBacking(config.DATA_DIR, { logger }), { logger });
  try {
    await registry.open();
  } catch (error) {
    await registry.close().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    throw error;
  }
  return {
    ...registry,
    async close() {
      await registry.close();
      await bus?.close();
    },
  };
}
