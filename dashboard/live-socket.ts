/**
 * socket.io on DASHBOARD_PORT (same HTTP server as the API, path `/socket.io`): live push to the dashboard
 * and to any socket.io-client (the benchmark measures live push latency with one).
 *
 * ## Access
 * The handshake needs the dashboard token, either as the `sluice_session` cookie the login page sets or as
 * `auth: { token }` in the client options: `io(url, { auth: { token } })`. Without it the connection is
 * refused with a `connect_error` whose message is `unauthorized`. A wrong token counts against the peer
 * address like one sent over HTTP (auth.ts); an address over its budget is refused, unchecked, with the
 * message `too-many-attempts` and `data: { retryAfterS, message }`.
 *
 * ## Client → server
 * - `join`  `(room: string, ack?: (result: JoinResult) => void)` — rooms:
 *     - `fleet`           fleet rows (status, rates, latest values); the ack carries a full snapshot;
 *     - `fleet:readings`  every reading of every device, in batches (heavy: for tools, not browsers);
 *     - `device:<id>`     every reading, event and dead letter of one device, in batches.
 *   `JoinResult` = `{ ok: true, room, snapshot?: FleetFrame }` | `{ ok: false, error }`.
 *   A client may be in at most `maxRoomsPerClient` rooms.
 * - `leave` `(room: string, ack?: (result: { ok: boolean }) => void)`.
 *
 * ## Server → client
 * - `readings`      `{ deviceId?: string, readings: LiveReading[], dropped: number }` every `batchIntervalMs`
 *                   (50 ms) to `device:<id>` (with `deviceId`) and to `fleet:readings` (all devices, no
 *                   `deviceId`); only when there is something new. `LiveReading` = `{ deviceId, metric,
 *                   value, unit?, ts, receivedAt }` with `ts` the device time and `receivedAt` the gateway
 *                   time, both epoch ms. At most `maxBatchPerDevice` readings per device per batch; the rest
 *                   are counted in `dropped`. Volatile.
 * - `fleet`         `{ ts, devices: FleetRow[] }` every `fleetIntervalMs` (400 ms) to `fleet`: only the rows
 *                   that changed (new readings, status, or a message rate still decaying). `FleetRow` =
 *                   `{ id, status: 'online'|'offline'|'unknown', statusSince?, session?, connectedAt?, lastSeen,
 *                   msgsPerSec, readingsPerSec, latest: { [metric]: { value, unit?, ts } } }`, `session` and
 *                   `connectedAt` being the connection the status belongs to. Volatile.
 * - `device-event`  `DeviceEvent` (`{ deviceId, type: 'online'|'offline'|'acl-violation'|'auth-failed'|
 *                   'auth-failures'|'refused', reason, detail?, ts, remoteAddress?, count?, session?, connectedAt?,
 *                   gateway? }`, docs/contracts.md §7) at once to `device:<id>`; online/offline also to `fleet`, each
 *                   one, also one the row's status does not take (an older connection's): a client orders them by
 *                   the rule of core/device-status.ts against the row's connection. Not volatile: a status flip is
 *                   never dropped.
 * - `dead-letters`  `{ deviceId, deadLetters: { deviceId, code, reason, topic, receivedAt, bytes }[] }` with
 *                   the batch tick to `device:<id>`, at most `maxDeadLettersPerDevice` (20) per tick. Not volatile.
 * - `alerts`        `{ ts, open: AlertTransition[] }` once on connect (every connection, no room to join): every open
 *                   alert by its latest transition, ordered as `GET /api/alerts` orders them. A client that reconnects
 *                   gets it again and takes it as the whole open set (an alert it held that is not in it has ended).
 * - `alert`         `AlertTransition` (core/alerts.ts: `{ alertId, ruleId, deviceId, severity, transition:
 *                   'raised'|'updated'|'cleared'|'acknowledged', state: 'open'|'cleared', value, metric?, window?,
 *                   raisedAt, ts, seq, description, ackBy?, ackAt?, clearReason? }`) to every client, at once, for
 *                   each transition the dashboard's alert book takes (duplicates by (alertId, seq) are not sent).
 *                   Not volatile.
 *
 * "Volatile" (droppable) frames skip a client whose write buffer already holds `maxBufferedFrames` (16)
 * frames per room it is in, so a slow browser loses frames instead of growing the server's memory; the next
 * frame carries the newest state. (Per room: a client in 32 device rooms gets 32 frames in every tick.) (Not socket.io's `.volatile`: that drops every frame sent while the transport is mid-write,
 * so a client in two rooms would lose the second room's batch of each tick.)
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { AlertTransition } from '../core/alerts.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeadLetter, DeviceEvent, Reading } from '../core/reading.js';
import type { FleetState } from '../core/seams.js';
import type { DashboardToken } from './token.js';
import type { AlertBook } from './alerts.js';
import type { AlertsSnapshot } from './protocol.js';
import { createDashboardAuth, TOO_MANY_ATTEMPTS, tooManyAttemptsMessage, type DashboardAuth } from './auth.js';
import { SESSION_COOKIE } from './session.js';
import { createLiveHub, deviceRoom, FLEET_READINGS_ROOM, FLEET_ROOM, type FleetFrame, type LiveHub, type LiveHubOptions } from './live-hub.js';

export type JoinResult = { ok: true; room: string; snapshot?: FleetFrame } | { ok: false; error: string };

/** The part of the live feed this needs (see consumers/live-feed.ts). */
export interface LiveFeedEvents {
  on(event: 'readings', listener: (readings: Reading[]) => void): void;
  on(event: 'device-event', listener: (event: DeviceEvent) => void): void;
  on(event: 'dead-letter', listener: (deadLetter: DeadLetter) => void): void;
  on(event: 'alert', listener: (transition: AlertTransition) => void): void;
}

export interface LiveSocketOptions extends Partial<LiveHubOptions> {
  server: HttpServer;
  token: DashboardToken;
  /** The token check and wrong-token throttle shared with the HTTP API; without it one of its own. */
  auth?: DashboardAuth;
  liveFeed: LiveFeedEvents;
  fleet: FleetState;
  /** Open alerts for the `alerts` snapshot, and the transitions to push as `alert`; without it neither is sent. */
  alerts?: Pick<AlertBook, 'list' | 'onTransition'>;
  metrics: Metrics;
  logger?: Logger;
  maxRoomsPerClient?: number;
  /** Frames waiting in a client's write buffer past which droppable frames skip that client. */
  maxBufferedFrames?: number;
}

export interface LiveSocket {
  hub: LiveHub;
  io: Server;
  close(): Promise<void>;
}

/** Reads one cookie from a Cookie header without pulling in a parser for a single name. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

/**
 * Packets engine.io holds for a client because its transport is still writing earlier ones. `writeBuffer` is
 * private in engine.io's typings but has been the send queue since engine.io 1; read defensively.
 */
export function bufferedFrames(socket: Socket): number {
  const buffer = (socket.conn as unknown as { writeBuffer?: unknown }).writeBuffer;
  return Array.isArray(buffer) ? buffer.length : 0;
}

const ROOM_PATTERN = /^device:[^\s]{1,256}$/;

export function validRoom(room: unknown): room is string {
  return typeof room === 'string' && (room === FLEET_ROOM || room === FLEET_READINGS_ROOM || ROOM_PATTERN.test(room));
}

export function createLiveSocket(options: LiveSocketOptions): LiveSocket {
  const log = options.logger?.child({ module: 'live-socket' });
  const maxRooms = options.maxRoomsPerClient ?? 32;
  const maxBufferedFrames = options.maxBufferedFrames ?? 16;
  const io = new Server(options.server, {
    path: '/socket.io',
    serveClient: false,
    // Frames are small and frequent; compressing each would cost more CPU than it saves on a LAN.
    perMessageDeflate: false,
    maxHttpBufferSize: 16 * 1024,
  });
  const rooms = io.of('/').adapter.rooms;
  const hub = createLiveHub(options, {
    hasMembers: (room) => (rooms.get(room)?.size ?? 0) > 0,
    emit(room, event, payload, droppable) {
      if (!droppable) {
        io.to(room).emit(event, payload);
        return;
      }
      // Our own "volatile": skip the clients whose engine.io write buffer is already backed up. socket.io's
      // `.volatile` drops a frame whenever the transport is mid-write, which loses the second frame of the
      // same tick (a device batch right after another device's) even for a fast client.
      const slow: string[] = [];
      for (const id of rooms.get(room) ?? []) {
        const socket = io.sockets.sockets.get(id);
        // socket.rooms holds the client's own id as well as the rooms it joined.
        if (socket && bufferedFrames(socket) >= maxBufferedFrames * Math.max(1, socket.rooms.size - 1)) slow.push(id);
      }
      (slow.length > 0 ? io.to(room).except(slow) : io.to(room)).emit(event, payload);
    },
  });
  hub.seed(options.fleet.devices());

  options.liveFeed.on('readings', (readings) => hub.addReadings(readings));
  options.liveFeed.on('device-event', (event) => hub.addDeviceEvent(event));
  options.liveFeed.on('dead-letter', (deadLetter) => hub.addDeadLetter(deadLetter));
  // Rare and each one matters: to every client at once, never dropped for a slow one.
  const stopAlerts = options.alerts?.onTransition((transition) => io.emit('alert', transition));

  const auth =
    options.auth ?? createDashboardAuth({ token: options.token, metrics: options.metrics, ...(options.logger ? { logger: options.logger } : {}) });
  io.use((socket, next) => {
    const handshake = socket.handshake.auth as { token?: unknown } | undefined;
    const fromAuth = typeof handshake?.token === 'string' ? handshake.token : undefined;
    const candidate = fromAuth ?? cookieValue(socket.request.headers.cookie, SESSION_COOKIE);
    // handshake.address is the TCP peer (socket.io reads no X-Forwarded-For), the address fastify's request.ip gives.
    const result = auth.check(socket.handshake.address, candidate, fromAuth !== undefined ? 'socket' : 'cookie');
    if (result.ok) return next();
    if (result.reason !== 'too-many-attempts') return next(new Error('unauthorized'));
    const error = new Error(TOO_MANY_ATTEMPTS) as Error & { data: { retryAfterS: number; message: string } };
    error.data = { retryAfterS: result.retryAfterS, message: tooManyAttemptsMessage(result.retryAfterS) };
    next(error);
  });

  io.on('connection', (socket: Socket) => {
    options.metrics.socketClients.inc();
    socket.on('disconnect', () => options.metrics.socketClients.dec());
    if (options.alerts) {
      const snapshot: AlertsSnapshot = { ts: Date.now(), open: options.alerts.list({ state: 'open' }) };
      socket.emit('alerts', snapshot);
    }

    socket.on('join', (room: unknown, ack?: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (result: JoinResult) => void) : () => undefined;
      if (!validRoom(room)) return reply({ ok: false, error: 'unknown room: use "fleet", "fleet:readings" or "device:<id>"' });
      // socket.rooms holds the socket's own id room too.
      if (!socket.rooms.has(room) && socket.rooms.size - 1 >= maxRooms) return reply({ ok: false, error: `at most ${maxRooms} rooms per client` });
      void socket.join(room);
      if (room === FLEET_ROOM) return reply({ ok: true, room, snapshot: hub.snapshot() });
      return reply({ ok: true, room });
    });

    socket.on('leave', (room: unknown, ack?: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (result: { ok: boolean }) => void) : () => undefined;
      if (!validRoom(room)) return reply({ ok: false });
      void socket.leave(room);
      reply({ ok: true });
    });
  });

  return {
    hub,
    io,
    async close() {
      hub.close();
      stopAlerts?.();
      io.disconnectSockets(true);
      // Not io.close(): that would also close the HTTP server, which fastify owns and closes itself.
      io.engine.close();
      log?.debug('live socket closed');
    },
  };
}

export { deviceRoom };
