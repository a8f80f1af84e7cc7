import { startThreadModule } from '../../core/threads.js';
import type { Ingest } from '../../core/seams.js';
import { createBridge } from '../../bridge/bridge.js';
import { createBridgeThread } from '../../bridge/bridge-thread.js';
import type { BridgeThreadInput } from '../../bridge/bridge-protocol.js';
import { createNormalizeOptions } from '../../bridge/normalize/index.js';
import { createGateway, type GatewayOptions } from '../../gateway/gateway.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { deviceRegistryOf } from '../registry.js';
import { createAlertCommands } from '../../gateway/alert-commands.js';
import type { Config } from '../../core/config.js';
import type { RunningSluice, Services } from './shared.js';
import type { BridgeThreadData } from './ingest-thread.js';

/**
 * Ingest: the bridge (normalize, batch, produce; on its own thread in production with BRIDGE_THREAD) and, unless
 * this process is a bridge alone, the MQTT gateway in front of it, which also hands devices their own alerts.
 */
export async function startIngestRole(services: Services, withGateway: boolean): Promise<Partial<RunningSluice>> {
  const { config, production, logger, metrics, closers } = services;
  const input: BridgeThreadInput = {
    bridge: {
      lingerMs: config.BRIDGE_LINGER_MS,
      maxBatchRecords: config.BRIDGE_MAX_BATCH_RECORDS,
      maxInflightRecords: config.BRIDGE_MAX_INFLIGHT_READINGS,
      normalize: createNormalizeOptions({ maxPayloadBytes: config.MAX_PAYLOAD_BYTES }),
    },
    producers: config.BRIDGE_PRODUCERS,
    logLevel: logger.level,
  };
  let bridge: Ingest;
  if (production && config.BRIDGE_THREAD) {
    const data: BridgeThreadData = { ...input, kafka: services.kafka };
    bridge = await createBridgeThread(input, { logger, metrics, spawn: () => startThreadModule(import.meta.url, 'ingest-thread', data) });
  } else {
    const producers = await Promise.all(Array.from({ length: input.producers }, () => services.bus.createProducer()));
    closers.add('producers', async () => void (await Promise.all(producers.map((producer) => producer.close()))));
    bridge = createBridge(input.bridge, { producers, logger, metrics });
  }
  closers.add('bridge', () => bridge.close());
  if (!withGateway) return {};

  // The whole registry before the first login: a device is never refused (or admitted) on a half-read registry.
  const registry = deviceRegistryOf(config, logger, services.bus);
  closers.add('registry', () => registry.close());
  const readingSince = Date.now();
  await registry.open();
  logger.child({ module: 'registry' }).info({ kind: registry.kind, devices: registry.list().length, tookMs: Date.now() - readingSince }, 'device registry read');
  services.readiness.push({ name: 'registry', check: async () => registry.health().ready, note: () => registry.health().note });
  const gatewayId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  // Events from now on (by record time), so this gateway's own first logins are read back however late the reader joins.
  const fleetEvents = services.bus.createConsumer({ streams: ['events'], from: { timestamp: Date.now() }, fetchWaitMs: 100 });
  const gateway = await createGateway(gatewayOptions(config), { bridge, registry, fleetEvents, gatewayId, logger, metrics });
  closers.add('gateway', () => gateway.close());
  const alertCommands = createAlertCommands({ bus: services.bus, send: gateway.sendCommand, logger, metrics });
  await alertCommands.start();
  closers.add('alert-commands', () => alertCommands.close());
  const ports = await gateway.listen();
  services.readiness.push({ name: 'mqtt', check: async () => gateway.listening() });
  return {
    mqttPort: ports.port,
    ...(ports.wsPort !== undefined ? { wsPort: ports.wsPort } : {}),
    ...(ports.tlsPort !== undefined ? { tlsPort: ports.tlsPort } : {}),
  };
}

function gatewayOptions(config: Readonly<Config>): GatewayOptions {
  return {
    host: config.MQTT_HOST,
    port: config.MQTT_PORT,
    wsPort: config.MQTT_WS_PORT,
    maxPacketBytes: config.MQTT_MAX_PACKET_BYTES,
    maxConnections: config.MQTT_MAX_CONNECTIONS,
    maxTopicLevels: config.MQTT_MAX_TOPIC_LEVELS,
    maxKeepaliveS: config.MQTT_MAX_KEEPALIVE_S,
    maxTopicBytes: config.MQTT_MAX_TOPIC_BYTES,
    maxConnectBytes: config.MQTT_MAX_CONNECT_BYTES,
    connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
    maxUnauthenticated: config.MQTT_MAX_UNAUTHENTICATED,
    maxUnauthenticatedPerAddress: config.MQTT_MAX_UNAUTHENTICATED_PER_ADDRESS,
    auth: { budget: config.AUTH_FAILURE_BUDGET, refillMs: config.AUTH_FAILURE_REFILL_MS, concurrency: config.MQTT_AUTH_CONCURRENCY, maxQueued: config.MQTT_AUTH_QUEUE_MAX },
    ...(config.TLS_CERT && config.TLS_KEY
      ? { tls: { port: config.MQTT_TLS_PORT, cert: config.TLS_CERT, key: config.TLS_KEY, ...(config.TLS_CA ? { ca: config.TLS_CA } : {}) } }
      : {}),
  };
}
