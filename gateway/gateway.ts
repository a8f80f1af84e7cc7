import { Aedes } from 'aedes';
import { createGatewayContext, type GatewayDeps, type GatewayOptions } from './context.js';
import { createConnectStage } from './connect.js';
import { createPublishStage } from './publish.js';
import { createAuthorizeSubscribe } from './subscribe.js';
import { trackStatus } from './status.js';
import { createListeners } from './listeners.js';
import { followFleet } from './fleet.js';

export type { GatewayDeps, GatewayOptions } from './context.js';

export interface Gateway {
  listen(): Promise<{ port: number; wsPort?: number; tlsPort?: number }>;
  connectedDevices(): number;
  /** True while the MQTT listeners accept connections; for /readyz. */
  listening(): boolean;
  /** Publishes to a device's own `devices/{id}/commands/{command}` (QoS 1), where it may subscribe. */
  sendCommand(deviceId: string, command: string, payload: Buffer): Promise<void>;
  close(): Promise<void>;
}

/**
 * The MQTT gateway, in the shape of aedes' own handlers: connect (caps, login gate), publish (topic checks, ACL,
 * the bridge, backpressure), subscribe, and status (online/offline with reasons). They share `GatewayContext`;
 * everything that reaches into aedes' internals is in `aedes-internals.ts`.
 */
export async function createGateway(options: GatewayOptions, deps: GatewayDeps): Promise<Gateway> {
  const context = createGatewayContext(options, deps);
  const connect = createConnectStage(context);
  const publish = createPublishStage(context);
  const broker = await Aedes.createBroker({
    // aedes' own ceiling (it refuses deeper topics before authorizePublish, without saying how deep);
    // MQTT_MAX_TOPIC_LEVELS is checked in authorizePublish/authorizeSubscribe, with the numbers.
    maxTopicLevels: 100,
    connectTimeout: options.connectTimeoutMs,
    preConnect(client, packet, callback) {
      // aedes answers other protocol versions with CONNACK 1 itself; the status module counts them.
      context.requestedKeepalive.set(client, packet.keepalive ?? 0);
      publish.holdReads(client);
      callback(null, true);
    },
    authenticate: connect.authenticate,
    authorizePublish: publish.authorizePublish,
    authorizeSubscribe: createAuthorizeSubscribe(context),
  });
  context.broker = broker;
  publish.install();
  const status = trackStatus(broker, context, { connect, publish });
  const fleet = followFleet(context, { connect, publish }, deps.fleetEvents);
  await fleet.start();
  const listeners = createListeners(broker, context, connect.accept);

  return {
    listen: () => listeners.listen(),
    connectedDevices: () => status.connectedDevices(),
    listening: () => listeners.listening(),
    sendCommand: (deviceId, command, payload) =>
      new Promise<void>((resolve, reject) =>
        broker.publish({ cmd: 'publish', topic: `devices/${deviceId}/commands/${command}`, payload, qos: 1, retain: false, dup: false }, (error) => (error ? reject(error) : resolve())),
      ),
    async close() {
      publish.close();
      listeners.close();
      await fleet.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
