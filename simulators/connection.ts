/**
 * The seam between a simulated device and its MQTT connection. Two implementations: mqtt.js (the
 * reference client, one instance per device) and the lean client of ./lean-mqtt.ts (for 10,000+ devices).
 */
import mqtt from 'mqtt';
import { ConnackError, connectLean } from './lean-mqtt.js';

export interface ConnectRequest {
  host: string;
  port: number;
  clientId: string;
  username: string;
  password: string;
  will: { topic: string; payload: string; qos: 0 | 1; retain: boolean };
  keepaliveS: number;
  connectTimeoutMs: number;
}

export interface DeviceConnection {
  publish(topic: string, payload: string, qos: 0 | 1, done: (error?: Error) => void, retain?: boolean): void;
  /** Clean DISCONNECT: no will. */
  end(): Promise<void>;
  /** Socket destroyed without DISCONNECT: the broker publishes the will. */
  destroy(): void;
  onClose(listener: () => void): void;
}

export type ConnectFn = (request: ConnectRequest) => Promise<DeviceConnection>;

export const CLIENT_KINDS = ['mqttjs', 'lean'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** The CONNACK return code of a refused connection, from either client; undefined for other errors. */
export function refusalCode(error: unknown): number | undefined {
  if (error instanceof ConnackError) return error.code;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && code > 0 && code < 6 ? code : undefined;
}

export const connectLeanDevice: ConnectFn = async (request) => {
  const client = await connectLean(request);
  return {
    publish: (topic, payload, qos, done, retain) => client.publish(topic, payload, qos, done, retain),
    end: () => client.end(),
    destroy: () => client.destroy(),
    onClose: (listener) => client.onClose(() => listener()),
  };
};

export const connectMqttJsDevice: ConnectFn = (request) =>
  new Promise((resolve, reject) => {
    const client = mqtt.connect({
      host: request.host,
      port: request.port,
      protocol: 'mqtt',
      protocolVersion: 4,
      clientId: request.clientId,
      username: request.username,
      password: request.password,
      will: { topic: request.will.topic, payload: Buffer.from(request.will.payload), qos: request.will.qos, retain: request.will.retain },
      keepalive: request.keepaliveS,
      connectTimeout: request.connectTimeoutMs,
      reconnectPeriod: 0, // the fleet reconnects itself, with backoff
      clean: true,
    });
    let connected = false;
    client.once('connect', () => {
      connected = true;
      resolve({
        publish: (topic, payload, qos, done, retain = false) => client.publish(topic, payload, { qos, retain }, (error) => done(error ?? undefined)),
        end: () => client.endAsync(),
        destroy: () => client.stream?.destroy(),
        onClose: (listener) => client.on('close', listener),
      });
    });
    // Kept for the connection's whole life: an 'error' without a listener would throw.
    client.on('error', (error) => {
      if (connected) return;
      client.end(true);
      reject(error);
    });
    client.once('close', () => {
      if (!connected) reject(new Error('connection closed before CONNACK'));
    });
  });

export function connectorFor(kind: ClientKind): ConnectFn {
  return kind === 'lean' ? connectLeanDevice : connectMqttJsDevice;
}
