import type { TLSSocket } from 'node:tls';
import type { Aedes, Client } from 'aedes';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeviceEvent, DocumentFormat } from '../core/reading.js';
import type { DeviceRegistry, Ingest, StreamConsumer } from '../core/seams.js';
import { createLogLimiter, REFUSALS, type RefusalReason } from './refusals.js';
import { remoteAddressOf } from './aedes-internals.js';

export interface GatewayOptions {
  host: string;
  port: number;
  wsPort?: number;
  tls?: { port: number; cert: string; key: string; ca?: string };
  /** Packets larger than this close the connection before their body is read. */
  maxPacketBytes: number;
  maxConnections: number;
  maxTopicLevels: number;
  maxTopicBytes: number;
  /** Keepalive a device may ask for, in seconds; 0 (never time out) is refused. */
  maxKeepaliveS: number;
  /** Before login, packets larger than this close the connection: nobody unauthenticated makes us buffer much. */
  maxConnectBytes: number;
  /** A connection without a complete CONNECT (or, on TLS, a finished handshake) by then is closed. */
  connectTimeoutMs: number;
  /** Connections accepted but not logged in yet, in total and per remote address. */
  maxUnauthenticated: number;
  maxUnauthenticatedPerAddress: number;
  auth: { budget: number; refillMs: number; concurrency: number; maxQueued: number };
}

export interface GatewayDeps {
  bridge: Ingest;
  registry: DeviceRegistry;
  /**
   * A reader of `{prefix}.events` from its end (no group): the other gateways' logins and failed logins, for
   * one session per device fleet-wide and a shared login throttle (gateway/fleet.ts).
   */
  fleetEvents: StreamConsumer;
  /** This gateway process among the others; in its events, so each gateway tells its own from the rest. */
  gatewayId: string;
  logger: Logger;
  metrics: Metrics;
}

/** A device that logged in. */
export interface Connection {
  deviceId: string;
  /** Registered payload format, read at connect: a change applies from the device's next connection. */
  format?: DocumentFormat;
  remoteAddress: string;
  via: 'tcp' | 'tls' | 'ws';
  /** Unique per connection fleet-wide (`{gatewayId}#{n}`): on its `online` and `offline` events (docs/contracts.md §7). */
  session: string;
  /** Epoch ms of the login; set again to its `online` event's ts once the connection is ready. */
  connectedAt: number;
}

/** Refusals of one kind are logged, and put in one device's activity, at most this often. */
export const REFUSAL_REPORT_MS = 10_000;

/** What the connect, publish, subscribe and status modules share: the logged-in devices and how to report. */
export interface GatewayContext {
  options: GatewayOptions;
  bridge: Ingest;
  registry: DeviceRegistry;
  gatewayId: string;
  metrics: Metrics;
  log: Logger;
  /** Set once aedes is created; handlers run only after that. */
  broker: Aedes;
  connections: WeakMap<Client, Connection>;
  /** The logged-in connections of each device id (one, but for the moment a takeover is under way). */
  sessionsOf: Map<string, Set<Client>>;
  /** Why the gateway closed a connection, set before aedes reports the close. */
  closeReasons: WeakMap<Client, { reason: RefusalReason; detail?: string }>;
  /** Keepalive from the CONNECT, kept for the keepalive check and its message. */
  requestedKeepalive: WeakMap<Client, number>;
  /** Counts a refusal and logs it, at most one line per reason and address every REFUSAL_REPORT_MS. */
  countRefusal(reason: RefusalReason, context: { deviceId?: string; remoteAddress?: string; detail?: string }): void;
  /** Marks why the gateway is about to close this connection, unless an earlier reason stands. */
  closeFor(client: Client, reason: RefusalReason, detail?: string): void;
  /** A refusal that does not close the connection (a dropped QoS 0 publish) in the device's activity. */
  reportToDevice(deviceId: string, reason: RefusalReason, detail: string, remoteAddress?: string): void;
  /** At most one call of `emit` per key every REFUSAL_REPORT_MS; it learns how many were left out. */
  limitActivity(key: string, emit: (suppressed: number) => void): void;
  emitEvent(event: DeviceEvent): void;
  publishStatus(deviceId: string, type: 'online' | 'offline'): void;
}

export function createGatewayContext(options: GatewayOptions, deps: GatewayDeps): GatewayContext {
  const log = deps.logger.child({ module: 'gateway' });
  const logLimiter = createLogLimiter(REFUSAL_REPORT_MS);
  const activityLimiter = createLogLimiter(REFUSAL_REPORT_MS);
  const context: GatewayContext = {
    options,
    bridge: deps.bridge,
    registry: deps.registry,
    gatewayId: deps.gatewayId,
    metrics: deps.metrics,
    log,
    broker: undefined as unknown as Aedes,
    connections: new WeakMap(),
    sessionsOf: new Map(),
    closeReasons: new WeakMap(),
    requestedKeepalive: new WeakMap(),
    countRefusal(reason, details) {
      deps.metrics.mqttRefusals.inc({ reason });
      logLimiter(`${reason}\u0000${details.remoteAddress ?? ''}`, (suppressed) => {
        const level = REFUSALS[reason].stage === 'session' || reason === 'bad-credentials' ? 'warn' : 'info';
        log[level]({ reason, ...details, ...(suppressed > 0 ? { alsoSinceLastLine: suppressed } : {}) }, `refused: ${REFUSALS[reason].what}`);
      });
    },
    closeFor(client, reason, detail) {
      if (context.closeReasons.has(client)) return;
      context.closeReasons.set(client, { reason, ...(detail ? { detail } : {}) });
      context.countRefusal(reason, { deviceId: context.connections.get(client)?.deviceId, remoteAddress: remoteAddressOf(client), ...(detail ? { detail } : {}) });
    },
    reportToDevice(deviceId, reason, detail, remoteAddress) {
      activityLimiter(`${deviceId}\u0000${reason}`, (suppressed) => {
        const more = suppressed > 0 ? ` (and ${suppressed} more since the last entry)` : '';
        context.emitEvent({ deviceId, type: 'refused', reason, detail: `${detail}${more}`, ts: Date.now(), ...(remoteAddress ? { remoteAddress } : {}) });
      });
    },
    limitActivity: activityLimiter,
    emitEvent(event) {
      event.gateway = deps.gatewayId;
      deps.bridge.publishEvent(event).catch((error: unknown) => log.warn({ err: error, deviceId: event.deviceId }, 'device event not delivered'));
    },
    publishStatus(deviceId, type) {
      context.broker.publish({ cmd: 'publish', topic: `devices/${deviceId}/status`, payload: Buffer.from(type), qos: 1, retain: true, dup: false }, () => undefined);
    },
  };
  return context;
}

export function transportOf(client: Client): 'tcp' | 'tls' | 'ws' {
  const conn = client.conn as { encrypted?: boolean; sluiceTransport?: string } | undefined;
  if (conn?.sluiceTransport === 'ws') return 'ws';
  return conn?.encrypted ? 'tls' : 'tcp';
}

/** The CN of a verified client certificate, when the device connected with one. */
export function clientCertificateId(client: Client): string | undefined {
  const socket = client.conn as Partial<TLSSocket> | undefined;
  if (!socket?.encrypted || !socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn.length > 0 ? cn : undefined;
}
