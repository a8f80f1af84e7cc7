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
import { addressKey } from '../core/client-address.js';
import { createAuthGate, type GateResult } from './auth-gate.js';
import { limitPacketSize } from './packet-limit.js';
import { createLogLimiter, refusalOfError, refusalOfTopic, REFUSALS, type RefusalReason } from './refusals.js';

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

/** Refusals of one kind are logged, and put in one device's activity, at most this often. */
const REFUSAL_REPORT_MS = 10_000;
/** An `auth-failures` event for a device id at most this often. */
const AUTH_BURST_REPORT_MS = 60_000;

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
  // Why the gateway closed a connection, set before aedes reports the close.
  const closeReasons = new WeakMap<Client, { reason: RefusalReason; detail?: string }>();
  // Connections answered with a CONNACK refusal: already counted when refused.
  const refusedAtConnect = new WeakSet<Client>();
  const requestedKeepalive = new WeakMap<Client, number>();
  // Counted here rather than read from aedes, whose own counter moves after our event handlers run.
  const ready = new Set<Client>();
  const gate = createAuthGate(options.auth);
  const logLimiter = createLogLimiter(REFUSAL_REPORT_MS);
  const activityLimiter = createLogLimiter(REFUSAL_REPORT_MS);
  const burstLimiter = createLogLimiter(AUTH_BURST_REPORT_MS);
  const unauthenticated = { total: 0, byAddress: new Map<string, number>() };

  /** Counts a refusal and logs it, at most one line per reason and address every REFUSAL_REPORT_MS. */
  function countRefusal(reason: RefusalReason, context: { deviceId?: string; remoteAddress?: string; detail?: string }): void {
    metrics.mqttRefusals.inc({ reason });
    logLimiter(`${reason}\u0000${context.remoteAddress ?? ''}`, (suppressed) => {
      const level = REFUSALS[reason].stage === 'session' || reason === 'bad-credentials' ? 'warn' : 'info';
      log[level]({ reason, ...context, ...(suppressed > 0 ? { alsoSinceLastLine: suppressed } : {}) }, `refused: ${REFUSALS[reason].what}`);
    });
  }

  /** A refusal that does not close the connection (a dropped QoS 0 publish) in the device's activity. */
  function reportToDevice(deviceId: string, reason: RefusalReason, detail: string, remoteAddress?: string): void {
    activityLimiter(`${deviceId}\u0000${reason}`, (suppressed) => {
      const more = suppressed > 0 ? ` (and ${suppressed} more since the last entry)` : '';
      emitEvent({ deviceId, type: 'refused', reason, detail: `${detail}${more}`, ts: Date.now(), ...(remoteAddress ? { remoteAddress } : {}) });
    });
  }

  /** Marks why the gateway is about to close this connection, unless an earlier reason stands. */
  function closeFor(client: Client, reason: RefusalReason, detail?: string): void {
    if (closeReasons.has(client)) return;
    closeReasons.set(client, { reason, ...(detail ? { detail } : {}) });
    countRefusal(reason, { deviceId: connections.get(client)?.deviceId, remoteAddress: remoteAddressOf(client), ...(detail ? { detail } : {}) });
  }

  const remoteAddressOf = (client: Client): string => {
    const conn = client.conn as { remoteAddress?: string; _socket?: { remoteAddress?: string } } | undefined;
    return conn?.remoteAddress ?? conn?._socket?.remoteAddress ?? (client.req as { socket?: Socket } | undefined)?.socket?.remoteAddress ?? 'unknown';
  };

  const broker = await Aedes.createBroker({
    // aedes' own ceiling (it refuses deeper topics before authorizePublish, without saying how deep);
    // MQTT_MAX_TOPIC_LEVELS is checked in authorizePublish/authorizeSubscribe, with the numbers.
    maxTopicLevels: 100,
    connectTimeout: options.connectTimeoutMs,

    preConnect(client, packet, callback) {
      // aedes answers other protocol versions with CONNACK 1 itself; the connectionError handler counts them.
      requestedKeepalive.set(client, packet.keepalive ?? 0);
      holdReads(client);
      callback(null, true);
    },

    authenticate(client, username, password, done) {
      const remoteAddress = remoteAddressOf(client);
      const budgetAddress = addressKey(remoteAddress);
      const refuse = (code: number, reason: RefusalReason, detail?: string): void => {
        metrics.mqttAuthFailures.inc({ reason });
        refusedAtConnect.add(client);
        countRefusal(reason, { ...(username ? { deviceId: username } : {}), remoteAddress, ...(detail ? { detail } : {}) });
        if (username && (code !== SERVER_UNAVAILABLE || reason === 'auth-throttled')) reportLoginRefusal(username, reason, detail, remoteAddress);
        const error = new Error(detail ?? REFUSALS[reason].what) as AuthenticateError;
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
      const loginStarted = performance.now();
      const certificateId = clientCertificateId(client);
      const claimedId = certificateId ?? username;
      if (!claimedId || (certificateId === undefined && !password)) return refuse(NOT_AUTHORIZED, 'missing-credentials');
      if (certificateId !== undefined && username && username !== certificateId) return refuse(NOT_AUTHORIZED, 'certificate-username-mismatch');
      let verdict: { deviceId: string } | { code: number; reason: RefusalReason } | undefined;
      const check = async (): Promise<boolean> => {
        // A certificate our CA signed names the device; the registry still decides whether it may connect.
        if (certificateId !== undefined) {
          verdict = (await registry.has(certificateId)) ? { deviceId: certificateId } : { code: NOT_AUTHORIZED, reason: 'unknown-certificate-device' };
        } else {
          const ok = await registry.verify(claimedId, password!.toString('utf8'));
          verdict = ok ? { deviceId: claimedId } : { code: BAD_USERNAME_OR_PASSWORD, reason: 'bad-credentials' };
        }
        metrics.mqttAuthChecks.inc({ outcome: 'deviceId' in verdict ? 'succeeded' : 'failed' });
        return 'deviceId' in verdict;
      };
      const closed = () => (client as unknown as { closed?: boolean }).closed === true;
      const publishGateStats = () => {
        const stats = gate.stats();
        metrics.mqttAuthChecksRunning.set(stats.running);
        metrics.mqttAuthQueued.set(stats.queued);
      };
      // A device proving the secret it proved before needs no scrypt, so no check slot and no budget:
      // reconnects and a device whose id is under attack are not held behind a storm of guesses.
      const remembered =
        certificateId === undefined
          ? registry.verifyRemembered(claimedId, password!.toString('utf8')).then((ok) => {
              if (ok) verdict = { deviceId: claimedId };
              return ok;
            })
          : Promise.resolve(false);
      const admitted = remembered.then((ok): Promise<GateResult> | GateResult => {
        if (ok) {
          metrics.mqttAuthChecks.inc({ outcome: 'remembered' });
          return { outcome: 'succeeded' };
        }
        return gate.run({ address: budgetAddress, deviceId: claimedId, gone: closed }, check);
      });
      publishGateStats();
      admitted
        .then(async (result) => {
          publishGateStats();
          if ('abandoned' in result) return;
          if ('refused' in result) {
            const seconds = Math.ceil(result.retryAfterMs / 1000);
            return refuse(SERVER_UNAVAILABLE, result.refused, result.refused === 'auth-throttled' ? `too many failed logins; the next is checked in ${seconds} s` : `the login queue holds ${options.auth.maxQueued}`);
          }
          if (!verdict || 'code' in verdict) return refuse(verdict?.code ?? BAD_USERNAME_OR_PASSWORD, verdict && 'reason' in verdict ? verdict.reason : 'bad-credentials');
          const deviceId = verdict.deviceId;
          const format = await registry.formatOf(deviceId);
          connections.set(client, { deviceId, remoteAddress, via: transportOf(client), ...(format ? { format } : {}) });
          // [MQTT-3.1.4-2]: a second connection with this client id replaces the first; remember why it goes.
          const previous = (broker as unknown as { clients: Record<string, Client | undefined> }).clients[client.id];
          if (previous && previous !== client) closeFor(previous, 'takeover', `a new connection from ${remoteAddress} took client id ${client.id}`);
          const now = performance.now();
          log.debug({ deviceId, remoteAddress, loginMs: Math.round(now - loginStarted), sinceAcceptMs: Math.round(now - (acceptedAt.get(client) ?? now)) }, 'login accepted');
          done(null, true);
        })
        .catch((error: unknown) => {
          publishGateStats();
          log.error({ err: error }, 'device registry unreadable');
          refuse(SERVER_UNAVAILABLE, 'registry-unavailable');
        });
    },

    authorizePublish(client, packet, callback) {
      // The broker's own publishes (retained status) have no client and are trusted.
      if (!client) return callback(null);
      const connection = connections.get(client);
      if (!connection) return callback(new Error('not authenticated'));
      const { deviceId } = connection;
      const receivedAt = Date.now();
      metrics.mqttPublishes.inc({ qos: String(packet.qos) });
      const badTopic = refusalOfTopic(packet.topic, options);
      if (badTopic) {
        closeFor(client, badTopic.reason, badTopic.detail);
        return callback(new Error(badTopic.detail));
      }
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
        const dropped = (why: string) => {
          metrics.qos0Dropped.inc();
          countRefusal('qos0-dropped', { deviceId, remoteAddress: connection.remoteAddress });
          reportToDevice(deviceId, 'qos0-dropped', `a QoS 0 publish on ${packet.topic} was dropped: ${why}`, connection.remoteAddress);
        };
        if (bridge.saturated()) {
          dropped('the bridge holds its maximum of unacknowledged readings');
          return callback(null);
        }
        bridge.ingest(input).catch(() => dropped('the bridge could not queue it'));
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
          closeFor(client, 'ingest-failed', error instanceof Error ? error.message : String(error));
          resumeReadsIfRoom();
          callback(error as Error);
        },
      );
      pauseReadsWhileSaturated(client);
    },

    authorizeSubscribe(client, subscription, callback) {
      const deviceId = connections.get(client)?.deviceId;
      const badTopic = refusalOfTopic(subscription.topic, options);
      if (badTopic) {
        closeFor(client, badTopic.reason, badTopic.detail);
        return callback(new Error(badTopic.detail));
      }
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
    closeFor(client, 'acl-violation', `${action} on ${topic}: ${reason}`);
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
    publishStatus(connection.deviceId, type);
  }

  function publishStatus(deviceId: string, type: 'online' | 'offline'): void {
    broker.publish({ cmd: 'publish', topic: `devices/${deviceId}/status`, payload: Buffer.from(type), qos: 1, retain: true, dup: false }, () => undefined);
  }

  /**
   * A refused login for an id in the registry goes to that device's activity (at most one entry per reason
   * every REFUSAL_REPORT_MS) and its failure metric; a burst that spends its budget raises `auth-failures`.
   * Ids that are not registered are only counted: anyone can make those up.
   */
  function reportLoginRefusal(deviceId: string, reason: RefusalReason, detail: string | undefined, remoteAddress: string): void {
    registry.has(deviceId).then(
      (registered) => {
        if (!registered) return;
        if (reason === 'bad-credentials' || reason === 'auth-throttled') metrics.mqttDeviceAuthFailures.inc({ device: deviceId });
        activityLimiter(`${deviceId}\u0000login\u0000${reason}`, (suppressed) => {
          const more = suppressed > 0 ? ` (and ${suppressed} more since the last entry)` : '';
          emitEvent({ deviceId, type: 'auth-failed', reason, detail: `${detail ?? REFUSALS[reason].what}${more}`, ts: Date.now(), remoteAddress });
        });
        const failures = Math.round(gate.failuresOf(deviceId));
        if (failures >= options.auth.budget) {
          burstLimiter(deviceId, () =>
            emitEvent({
              deviceId,
              type: 'auth-failures',
              reason: 'login-budget-spent',
              detail: `${failures} failed logins for this id recently (last from ${remoteAddress}); further logins are refused until they are forgiven, one every ${options.auth.refillMs / 1000} s`,
              ts: Date.now(),
              remoteAddress,
            }),
          );
        }
      },
      () => undefined,
    );
  }

  /**
   * Every connection passes here before its first byte is read: the caps on connections that have not
   * logged in, and the packet size limit that is the CONNECT limit until they have.
   */
  function accept(socket: Socket | NodeJS.ReadWriteStream, peerAddress: string, handle: () => Client): void {
    // An IPv6 host owns its /64: the caps count it as one address.
    const remoteAddress = addressKey(peerAddress);
    const fromAddress = unauthenticated.byAddress.get(remoteAddress) ?? 0;
    const capped: RefusalReason | undefined =
      unauthenticated.total >= options.maxUnauthenticated ? 'unauthenticated-cap' : fromAddress >= options.maxUnauthenticatedPerAddress ? 'unauthenticated-cap-address' : undefined;
    if (capped) {
      countRefusal(capped, { remoteAddress });
      (socket as Socket).destroy();
      return;
    }
    unauthenticated.total++;
    unauthenticated.byAddress.set(remoteAddress, fromAddress + 1);
    metrics.mqttUnauthenticated.set(unauthenticated.total);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      unauthenticated.total--;
      const left = (unauthenticated.byAddress.get(remoteAddress) ?? 1) - 1;
      if (left > 0) unauthenticated.byAddress.set(remoteAddress, left);
      else unauthenticated.byAddress.delete(remoteAddress);
      metrics.mqttUnauthenticated.set(unauthenticated.total);
    };
    socket.once('close', release);
    const client = handle();
    acceptedAt.set(client, performance.now());
    loggedIn.set(client, release);
    const limited = limitPacketSize(
      client,
      () => (connections.has(client) ? options.maxPacketBytes : options.maxConnectBytes),
      (length, limit) => {
        if (connections.has(client)) metrics.mqttOversizedPackets.inc();
        closeFor(client, connections.has(client) ? 'packet-too-large' : 'connect-too-large', `a packet of ${length} bytes; the limit is ${limit}`);
      },
    );
    if (!limited) log.error('aedes client has no mqtt-packet parser to limit: packet sizes are not bounded (aedes changed shape?)');
  }
  const loggedIn = new WeakMap<Client, () => void>();
  const acceptedAt = new WeakMap<Client, number>();

  broker.on('clientReady', (client) => {
    loggedIn.get(client)?.();
    ready.add(client);
    metrics.mqttConnects.inc();
    metrics.mqttConnections.set(ready.size);
    announce(client, 'online', `connected over ${connections.get(client)?.via ?? 'tcp'}`);
  });
  broker.on('keepaliveTimeout', (client) => closeFor(client, 'keepalive-timeout', `nothing received for 1.5 × the keepalive of ${requestedKeepalive.get(client)} s`));
  broker.on('clientDisconnect', (client) => {
    ready.delete(client);
    if (readsPaused.delete(client)) metrics.mqttReadsPaused.set(readsPaused.size);
    metrics.mqttConnections.set(ready.size);
    const clean = (client as unknown as { _disconnected?: boolean })._disconnected === true;
    const refusal = closeReasons.get(client);
    const connection = connections.get(client);
    if (!connection) return;
    if (refusal) {
      emitEvent({ deviceId: connection.deviceId, type: 'offline', reason: refusal.reason, ts: Date.now(), remoteAddress: connection.remoteAddress, ...(refusal.detail ? { detail: refusal.detail } : {}) });
      publishStatus(connection.deviceId, 'offline');
    } else {
      announce(client, 'offline', clean ? 'disconnect' : 'connection-lost');
    }
  });
  // A logged-in device's connection failed: say why, unless it was only the network.
  broker.on('clientError', (client, error) => {
    const reason = refusalOfError(error.message);
    if (reason) closeFor(client, reason, error.message);
    else log.debug({ clientId: client.id, err: error.message }, 'client error');
  });
  broker.on('connectionError', (client, error) => {
    if (!client || refusedAtConnect.has(client)) return;
    const reason = closeReasons.get(client)?.reason ?? refusalOfError(error.message);
    if (!reason) return log.debug({ remoteAddress: remoteAddressOf(client), err: error.message }, 'connection closed before login');
    metrics.mqttProtocolErrors.inc();
    if (!closeReasons.has(client)) closeFor(client, reason, error.message);
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
      const tcp = createNetServer({ noDelay: true }, (socket) => accept(socket, socket.remoteAddress ?? 'unknown', () => broker.handle(socket)));
      servers.push(tcp);
      const port = await listenOn(tcp, options.port);
      const result: { port: number; wsPort?: number; tlsPort?: number } = { port };
      if (options.wsPort !== undefined) {
        const http = createHttpServer((_request, response) => {
          response.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt with the "mqtt" subprotocol\n');
        });
        // An upgrade request that never completes is an unauthenticated connection too.
        http.headersTimeout = options.connectTimeoutMs;
        http.requestTimeout = options.connectTimeoutMs;
        wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: options.maxPacketBytes + 16, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
        wss.on('connection', (socket, request) => {
          const stream = createWebSocketStream(socket);
          stream.on('error', () => socket.terminate());
          (stream as unknown as { remoteAddress?: string }).remoteAddress = request.socket.remoteAddress;
          (stream as unknown as { sluiceTransport: string }).sluiceTransport = 'ws';
          accept(stream, request.socket.remoteAddress ?? 'unknown', () => broker.handle(stream, request));
        });
        servers.push(http);
        result.wsPort = await listenOn(http, options.wsPort);
      }
      if (options.tls) {
        const tls = createTlsServer(
          {
            cert: readFileSync(options.tls.cert),
            key: readFileSync(options.tls.key),
            handshakeTimeout: options.connectTimeoutMs,
            ...(options.tls.ca
              ? // Certificates are optional: a device may still use its secret. A presented certificate must verify.
                { ca: readFileSync(options.tls.ca), requestCert: true, rejectUnauthorized: false }
              : {}),
          },
          (socket) => {
            if (options.tls?.ca && socket.authorizationError && socket.getPeerCertificate()?.subject) {
              metrics.mqttAuthFailures.inc({ reason: 'bad-certificate' });
              countRefusal('bad-certificate', { remoteAddress: socket.remoteAddress, detail: String(socket.authorizationError) });
              socket.destroy();
              return;
            }
            accept(socket, socket.remoteAddress ?? 'unknown', () => broker.handle(socket));
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
