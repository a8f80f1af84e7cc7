import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeviceEvent } from '../core/reading.js';
import type { Bridge } from '../bridge/bridge.js';
import type { DeviceFormat, DeviceRegistry } from './registry.js';
import { decidePublish, decideSubscribe, isTelemetryTopic } from './topics.js';
import { createAuthThrottle } from './auth-throttle.js';
import { limitPacketSize } from './packet-limit.js';

export interface GatewayOptions {
  host: string;
  port: number;
  wsPort?: number;
  tls?: { port: number; cert: string; key: string; ca?: string };
  /** Packets larger than this close the connection before their body is read. */
  maxPacketBytes: number;
  maxConnections: number;
  maxTopicLevels: number;
  /** Keepalive a device may ask for, in seconds; 0 (never time out) is refused. */
  maxKeepaliveS: number;
}

export interface GatewayDeps {
  bridge: Bridge;
  registry: DeviceRegistry;
  logger: Logger;
  metrics: Metrics;
}

export interface Gateway {
  listen(): Promise<{ port: number; wsPort?: number; tlsPort?: number }>;
  connectedDevices(): number;
  /** True while the MQTT listeners accept connections; for /readyz. */
  listening(): boolean;
  close(): Promise<void>;
}

// MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2-3].
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

interface Connection {
  deviceId: string;
  /** Registered payload format, read at connect: a change applies from the device's next connection. */
  format?: DeviceFormat;
  remoteAddress: string;
  via: 'tcp' | 'tls' | 'ws';
}

/** How often paused clients are checked for room in the bridge, besides every acknowledgement. */
const RESUME_CHECK_MS = 20;

export async function createGateway(options: GatewayOptions, deps: GatewayDeps): Promise<Gateway> {
  const log = deps.logger.child({ module: 'gateway' });
  const { bridge, registry, metrics } = deps;
  const connections = new WeakMap<Client, Connection>();
  const keepaliveTimedOut = new WeakSet<Client>();
  const replaced = new WeakSet<Client>();
  const aclClosed = new WeakSet<Client>();
  const requestedKeepalive = new WeakMap<Client, number>();
  // Counted here rather than read from aedes, whose own counter moves after our event handlers run.
  const ready = new Set<Client>();
  const throttle = createAuthThrottle({ freeFailures: 3, baseDelayMs: 250, maxDelayMs: 10_000, forgetAfterMs: 10 * 60_000, maxAddresses: 100_000 });

  const remoteAddressOf = (client: Client): string => {
    const conn = client.conn as { remoteAddress?: string; _socket?: { remoteAddress?: string } } | undefined;
    return conn?.remoteAddress ?? conn?._socket?.remoteAddress ?? (client.req as { socket?: Socket } | undefined)?.socket?.remoteAddress ?? 'unknown';
  };

  const broker = await Aedes.createBroker({
    maxTopicLevels: options.maxTopicLevels,

    preConnect(client, packet, callback) {
      // aedes itself answers MQTT 5 with "unacceptable protocol version" (1); this says why in the log.
      if (packet.protocolVersion === 5) {
        metrics.mqttAuthFailures.inc({ reason: 'unsupported-protocol' });
        log.warn({ clientId: packet.clientId, remoteAddress: remoteAddressOf(client) }, 'MQTT 5 CONNECT refused: Sluice speaks MQTT 3.1.1 (CONNACK 1, unacceptable protocol version)');
      }
      requestedKeepalive.set(client, packet.keepalive ?? 0);
      holdReads(client);
      limitPacketSize(client, options.maxPacketBytes, (length) => {
        metrics.mqttOversizedPackets.inc();
        log.warn({ deviceId: connections.get(client)?.deviceId, clientId: client.id, length, limit: options.maxPacketBytes }, 'packet too large; closing the connection');
      });
      callback(null, true);
    },

    authenticate(client, username, password, done) {
      const remoteAddress = remoteAddressOf(client);
      const refuse = (code: number, reason: string, detail?: string): void => {
        metrics.mqttAuthFailures.inc({ reason });
        if (code === BAD_USERNAME_OR_PASSWORD || code === NOT_AUTHORIZED) throttle.failed(remoteAddress);
        log.warn({ clientId: client.id, username, remoteAddress, reason, detail }, 'connection refused');
        const error = new Error(detail ?? reason) as AuthenticateError;
        (error as { returnCode: number }).returnCode = code;
        done(error, false);
      };
      if (broker.connectedClients >= options.maxConnections) {
        return refuse(SERVER_UNAVAILABLE, 'max-connections', `the gateway holds its maximum of ${options.maxConnections} connections`);
      }
      const keepalive = requestedKeepalive.get(client) ?? 0;
      if (keepalive < 1 || keepalive > options.maxKeepaliveS) {
        return refuse(NOT_AUTHORIZED, 'keepalive-out-of-bounds', `keepalive ${keepalive} s is outside 1..${options.maxKeepaliveS} s`);
      }
      const certificateId = clientCertificateId(client);
      const delay = throttle.delayFor(remoteAddress);
      const identify = async (): Promise<{ deviceId: string } | { code: number; reason: string }> => {
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        if (certificateId !== undefined) {
          // A certificate our CA signed names the device; the registry still decides whether it may connect.
          if (username && username !== certificateId) return { code: NOT_AUTHORIZED, reason: 'certificate-username-mismatch' };
          return (await registry.has(certificateId)) ? { deviceId: certificateId } : { code: NOT_AUTHORIZED, reason: 'unknown-certificate-device' };
        }
        if (!username || !password) return { code: NOT_AUTHORIZED, reason: 'missing-credentials' };
        return (await registry.verify(username, password.toString('utf8'))) ? { deviceId: username } : { code: BAD_USERNAME_OR_PASSWORD, reason: 'bad-credentials' };
      };
      const check = async () => {
        const result = await identify();
        return 'code' in result ? result : { ...result, format: await registry.formatOf(result.deviceId) };
      };
      check().then(
        (result) => {
          if ('code' in result) return refuse(result.code, result.reason);
          throttle.succeeded(remoteAddress);
          connections.set(client, { deviceId: result.deviceId, remoteAddress, via: transportOf(client), ...(result.format ? { format: result.format } : {}) });
          // [MQTT-3.1.4-2]: a second connection with this client id replaces the first; remember why it goes.
          const previous = (broker as unknown as { clients: Record<string, Client | undefined> }).clients[client.id];
          if (previous && previous !== client) replaced.add(previous);
          done(null, true);
        },
        (error: unknown) => {
          log.error({ err: error }, 'device registry unreadable');
          refuse(SERVER_UNAVAILABLE, 'registry-unavailable');
        },
      );
    },

    authorizePublish(client, packet, callback) {
      // The broker's own publishes (retained status) have no client and are trusted.
      if (!client) return callback(null);
      const connection = connections.get(client);
      if (!connection) return callback(new Error('not authenticated'));
      const { deviceId } = connection;
      const receivedAt = Date.now();
      metrics.mqttPublishes.inc({ qos: String(packet.qos) });
      const decision = decidePublish(deviceId, packet.topic);
      if (!decision.allowed) {
        refuseByAcl(client, 'publish', packet.topic, decision.reason);
        // An error here makes aedes close the connection: MQTT 3.1.1 has no way to refuse one PUBLISH.
        return callback(new Error(decision.reason));
      }
      if (decision.kind === 'status') return callback(null);
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      // A registered format replaces content detection on the plain telemetry topic only: metric topics
      // carry plain values and `/$format` suffixes are the device's explicit choice.
      const format = connection.format && packet.topic === `devices/${deviceId}/telemetry` ? connection.format : undefined;
      const input = { deviceId, topic: packet.topic, payload, receivedAt, ...(format ? { format } : {}) };
      if (packet.qos === 0) {
        // Best effort: never hold the connection for QoS 0, and count what cannot be taken.
        if (bridge.saturated()) {
          metrics.qos0Dropped.inc();
          return callback(null);
        }
        bridge.ingest(input).catch(() => metrics.qos0Dropped.inc());
        return callback(null);
      }
      bridge.ingest(input).then(
        () => {
          metrics.ackLatency.observe((Date.now() - receivedAt) / 1000);
          resumeReadsIfRoom();
          callback(null);
        },
        (error: unknown) => {
          log.error({ err: error, deviceId }, 'publish not stored; closing the connection so the device sends it again');
          resumeReadsIfRoom();
          callback(error as Error);
        },
      );
      pauseReadsWhileSaturated(client);
    },

    authorizeSubscribe(client, subscription, callback) {
      const deviceId = connections.get(client)?.deviceId;
      const decision = deviceId ? decideSubscribe(deviceId, subscription.topic) : { allowed: false as const, reason: 'not authenticated' };
      if (!decision.allowed) {
        refuseByAcl(client, 'subscribe', subscription.topic, decision.reason);
        return callback(new Error(decision.reason));
      }
      callback(null, subscription);
    },
  });

  // Telemetry goes to Kafka, never to MQTT subscribers: the ACL lets no client subscribe to telemetry topics.
  // aedes would still route every telemetry PUBLISH (retained store, offline-subscription lookup, topic trie,
  // emitter) before the PUBACK; answering at once skips that per-message cost. Status and will messages are
  // retained for subscribers and keep the full route.
  // aedes's handlers call publish(packet, client, done); its typings know only publish(packet, done).
  type Publish = (packet: PublishPacket, client: Client | ((error?: Error) => void) | null, done?: (error?: Error) => void) => void;
  const route = (broker.publish as unknown as Publish).bind(broker);
  (broker as unknown as { publish: Publish }).publish = (packet, client, done) => {
    if (client && typeof client !== 'function' && done && isTelemetryTopic(packet.topic)) return done();
    route(packet, client, done);
  };

  // Backpressure: while the bridge holds its maximum of unacknowledged readings, a client that publishes more is
  // not read from. aedes would otherwise keep reading and parsing (every 'readable' event starts a read, whatever
  // is still in flight), and the waiting publishes filled the heap of an overloaded gateway. Paused, they wait in
  // the socket and kernel buffers, which is TCP flow control back to the device. Room is checked on every
  // acknowledgement and on a short timer while anyone is paused; during a Kafka outage they stay paused.
  // (Not aedes' own pause(): completions that arrive while paused are not counted, and the client never reads again.)
  const readsPaused = new Set<Client>();
  let resumeTimer: NodeJS.Timeout | undefined;
  function holdReads(client: Client): void {
    const conn = client.conn as unknown as { read(size?: number | null): unknown } | undefined;
    if (!conn || typeof conn.read !== 'function') return;
    const read = conn.read.bind(conn);
    // Reading nothing leaves the bytes buffered; aedes asks again on its next batch or 'readable' event.
    conn.read = (size?: number | null) => (readsPaused.has(client) ? null : read(size));
  }
  function pauseReadsWhileSaturated(client: Client): void {
    if (readsPaused.has(client) || !bridge.saturated()) return;
    readsPaused.add(client);
    metrics.mqttReadPauses.inc();
    metrics.mqttReadsPaused.set(readsPaused.size);
    resumeTimer ??= setInterval(resumeReadsIfRoom, RESUME_CHECK_MS);
  }
  function resumeReadsIfRoom(): void {
    if (readsPaused.size === 0 || bridge.saturated()) return;
    const clients = [...readsPaused];
    readsPaused.clear();
    metrics.mqttReadsPaused.set(0);
    clearInterval(resumeTimer);
    resumeTimer = undefined;
    for (const client of clients) {
      const internals = client as unknown as { _parsingBatch?: number; _nextBatch?: () => void; closed?: boolean };
      // With publishes still in flight, their completion reads next; otherwise nothing would, so read now.
      if (!internals.closed && (internals._parsingBatch ?? 0) <= 0) internals._nextBatch?.();
    }
  }

  function refuseByAcl(client: Client, action: 'publish' | 'subscribe', topic: string, reason: string): void {
    const connection = connections.get(client);
    metrics.aclViolations.inc({ action });
    aclClosed.add(client);
    log.warn({ deviceId: connection?.deviceId, topic, action, reason }, `${action} refused by the topic ACL; disconnecting`);
    if (connection) {
      emitEvent({ deviceId: connection.deviceId, type: 'acl-violation', reason: `${action} on ${topic}: ${reason}`, ts: Date.now(), remoteAddress: connection.remoteAddress });
    }
  }

  function emitEvent(event: DeviceEvent): void {
    bridge.publishEvent(event).catch((error: unknown) => log.warn({ err: error, deviceId: event.deviceId }, 'device event not delivered'));
  }

  function announce(client: Client, type: 'online' | 'offline', reason: string): void {
    const connection = connections.get(client);
    if (!connection) return;
    emitEvent({ deviceId: connection.deviceId, type, reason, ts: Date.now(), remoteAddress: connection.remoteAddress });
    broker.publish(
      { cmd: 'publish', topic: `devices/${connection.deviceId}/status`, payload: Buffer.from(type), qos: 1, retain: true, dup: false },
      () => undefined,
    );
  }

  broker.on('clientReady', (client) => {
    ready.add(client);
    metrics.mqttConnects.inc();
    metrics.mqttConnections.set(ready.size);
    announce(client, 'online', `connected over ${connections.get(client)?.via ?? 'tcp'}`);
  });
  broker.on('keepaliveTimeout', (client) => keepaliveTimedOut.add(client));
  broker.on('clientDisconnect', (client) => {
    ready.delete(client);
    if (readsPaused.delete(client)) metrics.mqttReadsPaused.set(readsPaused.size);
    metrics.mqttConnections.set(ready.size);
    const clean = (client as unknown as { _disconnected?: boolean })._disconnected === true;
    const reason = replaced.has(client)
      ? 'takeover'
      : clean
        ? 'disconnect'
        : keepaliveTimedOut.has(client)
          ? 'keepalive-timeout'
          : aclClosed.has(client)
            ? 'acl-violation'
            : 'connection-lost';
    announce(client, 'offline', reason);
  });
  broker.on('clientError', (client, error) => {
    log.debug({ clientId: client.id, err: error.message }, 'client error');
  });
  broker.on('connectionError', (client, error) => {
    metrics.mqttProtocolErrors.inc();
    log.info({ clientId: client?.id, remoteAddress: client ? remoteAddressOf(client) : undefined, err: error.message }, 'connection closed: malformed or refused packet');
  });

  const servers: (NetServer | HttpServer)[] = [];
  let wss: WebSocketServer | undefined;

  function listenOn(server: NetServer | HttpServer, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, options.host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  return {
    async listen() {
      const tcp = createNetServer({ noDelay: true }, (socket) => broker.handle(socket));
      servers.push(tcp);
      const port = await listenOn(tcp, options.port);
      const result: { port: number; wsPort?: number; tlsPort?: number } = { port };
      if (options.wsPort !== undefined) {
        const http = createHttpServer((_request, response) => {
          response.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt with the "mqtt" subprotocol\n');
        });
        wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: options.maxPacketBytes + 16, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
        wss.on('connection', (socket, request) => {
          const stream = createWebSocketStream(socket);
          stream.on('error', () => socket.terminate());
          (stream as unknown as { remoteAddress?: string }).remoteAddress = request.socket.remoteAddress;
          (stream as unknown as { sluiceTransport: string }).sluiceTransport = 'ws';
          broker.handle(stream, request);
        });
        servers.push(http);
        result.wsPort = await listenOn(http, options.wsPort);
      }
      if (options.tls) {
        const tls = createTlsServer(
          {
            cert: readFileSync(options.tls.cert),
            key: readFileSync(options.tls.key),
            ...(options.tls.ca
              ? // Certificates are optional: a device may still use its secret. A presented certificate must verify.
                { ca: readFileSync(options.tls.ca), requestCert: true, rejectUnauthorized: false }
              : {}),
          },
          (socket) => {
            if (options.tls?.ca && socket.authorizationError && socket.getPeerCertificate()?.subject) {
              metrics.mqttAuthFailures.inc({ reason: 'bad-certificate' });
              log.warn({ remoteAddress: socket.remoteAddress, error: String(socket.authorizationError) }, 'TLS client certificate refused');
              socket.destroy();
              return;
            }
            broker.handle(socket);
          },
        );
        servers.push(tls);
        result.tlsPort = await listenOn(tls, options.tls.port);
      }
      return result;
    },
    connectedDevices: () => ready.size,
    listening: () => servers.length > 0 && servers.every((server) => server.listening),
    async close() {
      clearInterval(resumeTimer);
      for (const server of servers) server.close();
      wss?.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}

function transportOf(client: Client): 'tcp' | 'tls' | 'ws' {
  const conn = client.conn as { encrypted?: boolean; sluiceTransport?: string } | undefined;
  if (conn?.sluiceTransport === 'ws') return 'ws';
  return conn?.encrypted ? 'tls' : 'tcp';
}

/** The CN of a verified client certificate, when the device connected with one. */
function clientCertificateId(client: Client): string | undefined {
  const socket = client.conn as Partial<TLSSocket> | undefined;
  if (!socket?.encrypted || !socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn.length > 0 ? cn : undefined;
}
