import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeviceEvent } from '../core/reading.js';
import type { Bridge } from '../bridge/bridge.js';
import type { DeviceRegistry } from './registry.js';
import { decidePublish, decideSubscribe } from './topics.js';

export interface GatewayOptions {
  host: string;
  port: number;
  wsPort?: number;
  tls?: { port: number; cert: string; key: string };
  maxPayloadBytes: number;
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
  close(): Promise<void>;
}

// MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2-3].
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

const deviceIds = new WeakMap<Client, string>();

export async function createGateway(options: GatewayOptions, deps: GatewayDeps): Promise<Gateway> {
  const log = deps.logger.child({ module: 'gateway' });
  const { bridge, registry, metrics } = deps;
  const keepaliveTimedOut = new WeakSet<Client>();

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const refuse = (code: number, reason: string): void => {
        metrics.mqttAuthFailures.inc({ reason });
        log.warn({ clientId: client.id, username, reason }, 'connection refused');
        const error = new Error(reason) as AuthenticateError;
        (error as { returnCode: number }).returnCode = code;
        done(error, false);
      };
      if (!username || !password) return refuse(NOT_AUTHORIZED, 'missing-credentials');
      registry.verify(username, password.toString('utf8')).then(
        (ok) => {
          if (!ok) return refuse(BAD_USERNAME_OR_PASSWORD, 'bad-credentials');
          deviceIds.set(client, username);
          done(null, true);
        },
        (error: unknown) => {
          log.error({ err: error }, 'device registry unreadable');
          refuse(3, 'registry-unavailable');
        },
      );
    },

    authorizePublish(client, packet, callback) {
      // The broker's own publishes (retained status) have no client and are trusted.
      if (!client) return callback(null);
      const deviceId = deviceIds.get(client);
      if (!deviceId) return callback(new Error('not authenticated'));
      const receivedAt = Date.now();
      metrics.mqttPublishes.inc({ qos: String(packet.qos) });
      const decision = decidePublish(deviceId, packet.topic);
      if (!decision.allowed) {
        metrics.aclViolations.inc({ action: 'publish' });
        log.warn({ deviceId, topic: packet.topic, reason: decision.reason }, 'publish refused by ACL; disconnecting');
        // An error here makes aedes close the connection: MQTT 3.1.1 has no way to refuse one PUBLISH.
        return callback(new Error(decision.reason));
      }
      if (decision.kind === 'status') return callback(null);
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      bridge.ingest({ deviceId, topic: packet.topic, payload, receivedAt }).then(
        () => {
          metrics.ackLatency.observe((Date.now() - receivedAt) / 1000);
          callback(null);
        },
        (error: unknown) => {
          log.error({ err: error, deviceId }, 'publish not stored; closing the connection so the device retries');
          callback(error as Error);
        },
      );
    },

    authorizeSubscribe(client, subscription, callback) {
      const deviceId = deviceIds.get(client);
      const decision = deviceId ? decideSubscribe(deviceId, subscription.topic) : { allowed: false as const, reason: 'not authenticated' };
      if (!decision.allowed) {
        metrics.aclViolations.inc({ action: 'subscribe' });
        log.warn({ deviceId, topic: subscription.topic, reason: decision.reason }, 'subscription refused by ACL');
        return callback(new Error(decision.reason));
      }
      callback(null, subscription);
    },
  });

  function announce(client: Client, type: 'online' | 'offline', reason: string): void {
    const deviceId = deviceIds.get(client);
    if (!deviceId) return;
    const event: DeviceEvent = { deviceId, type, reason, ts: Date.now() };
    const remote = (client.conn as { remoteAddress?: string } | undefined)?.remoteAddress;
    if (remote) event.remoteAddress = remote;
    bridge.publishEvent(event).catch((error: unknown) => log.warn({ err: error, deviceId }, 'device event not delivered'));
    broker.publish(
      { cmd: 'publish', topic: `devices/${deviceId}/status`, payload: Buffer.from(type), qos: 1, retain: true, dup: false },
      () => undefined,
    );
  }

  broker.on('clientReady', (client) => {
    metrics.mqttConnects.inc();
    metrics.mqttConnections.set(broker.connectedClients);
    announce(client, 'online', 'connected');
  });
  broker.on('keepaliveTimeout', (client) => keepaliveTimedOut.add(client));
  broker.on('clientDisconnect', (client) => {
    metrics.mqttConnections.set(broker.connectedClients);
    const clean = (client as unknown as { _disconnected?: boolean })._disconnected === true;
    const reason = clean ? 'disconnect' : keepaliveTimedOut.has(client) ? 'keepalive-timeout' : 'connection-lost';
    announce(client, 'offline', reason);
  });
  broker.on('clientError', (client, error) => {
    log.debug({ clientId: client.id, err: error }, 'client error');
  });
  broker.on('connectionError', (client, error) => {
    log.info({ clientId: client?.id, err: error.message }, 'connection error (malformed or refused packet)');
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
          response.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
        });
        wss = new WebSocketServer({ server: http, path: '/mqtt', handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
        wss.on('connection', (socket, request) => {
          const stream = createWebSocketStream(socket);
          stream.on('error', () => socket.terminate());
          broker.handle(stream, request);
        });
        servers.push(http);
        result.wsPort = await listenOn(http, options.wsPort);
      }
      if (options.tls) {
        const tls = createTlsServer(
          { cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) },
          (socket) => broker.handle(socket),
        );
        servers.push(tls);
        result.tlsPort = await listenOn(tls, options.tls.port);
      }
      return result;
    },
    connectedDevices: () => broker.connectedClients,
    async close() {
      for (const server of servers) server.close();
      wss?.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
