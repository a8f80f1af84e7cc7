import { io, type Socket } from 'socket.io-client';
import type { AlertsSnapshot, AlertTransition, DeviceEventMessage, FleetFrame, ReadingsFrame, DeadLetterSummary } from '../protocol.js';
import { createBackoff, STABLE_CONNECTION_MS, type LinkState } from './connection.js';

/** One socket.io connection for the whole page; views subscribe to rooms through it. Contract: ../live-socket.ts. */

export interface LiveHandlers {
  fleetSnapshot?(frame: FleetFrame): void;
  fleet?(frame: FleetFrame): void;
  readings?(frame: ReadingsFrame): void;
  deadLetters?(frame: { deviceId: string; deadLetters: DeadLetterSummary[] }): void;
  deviceEvent?(event: DeviceEventMessage): void;
  /** Every open alert, sent by the server on each connect. */
  alertsSnapshot?(snapshot: AlertsSnapshot): void;
  /** One alert transition, as it happens. */
  alert?(transition: AlertTransition): void;
  /** The link changed; also called once with the current state when the handlers are added. */
  connection?(state: LinkState): void;
}

type JoinResult = { ok: true; room: string; snapshot?: FleetFrame } | { ok: false; error: string };

export interface Live {
  /**
   * Resolves once the server has the page in the room (or after a short wait while the connection is down), so a
   * view can fetch its recent window afterwards without missing what arrives in between.
   */
  join(room: string): Promise<void>;
  leave(room: string): void;
  on(handlers: LiveHandlers): () => void;
  state(): LinkState;
  /** Browser time the last frame or snapshot arrived; undefined before the first. */
  lastDataAt(): number | undefined;
  /** Browser time of the next reconnect attempt; undefined while connected or while an attempt is under way. */
  nextAttemptAt(): number | undefined;
  /** Skips the rest of the backoff wait: the server looks reachable again (an API call answered, the tab came back). */
  retryNow(): void;
}

const JOIN_WAIT_MS = 2000;
/** An attempt that neither connects nor fails within this counts as failed. */
const CONNECT_TIMEOUT_MS = 8000;

let leaving = false;

/**
 * The session is no longer valid (Sluice restarted with another token, or the cookie expired): the login page,
 * once, instead of retrying forever.
 */
export function signInAgain(): void {
  if (leaving) return;
  leaving = true;
  window.location.assign('/login');
}

export function connectLive(): Live {
  // The session cookie rides along with the WebSocket upgrade (same origin); no token in page script.
  // socket.io's own reconnection is off: it does not reconnect after `io server disconnect` (what a stopping Sluice
  // sends) nor after a middleware error, so one backoff here covers every reason alike.
  const socket: Socket = io({ path: '/socket.io', transports: ['websocket'], reconnection: false, timeout: CONNECT_TIMEOUT_MS });
  const rooms = new Set<string>();
  const handlers = new Set<LiveHandlers>();
  const each = (fn: (h: LiveHandlers) => void) => handlers.forEach(fn);
  const joinWaiters = new Map<string, (() => void)[]>();
  const backoff = createBackoff();
  let link: LinkState = 'connecting';
  let lastDataAt: number | undefined;
  let connectedAt: number | undefined;
  let retryTimer: number | undefined;
  let nextAttemptAt: number | undefined;

  function setLink(next: LinkState): void {
    if (link === next) return;
    link = next;
    each((h) => h.connection?.(next));
  }

  const sawData = () => {
    lastDataAt = Date.now();
  };

  function attempt(): void {
    if (retryTimer !== undefined) window.clearTimeout(retryTimer);
    retryTimer = undefined;
    nextAttemptAt = undefined;
    if (leaving || socket.connected) return;
    // After `io server disconnect` or a middleware error socket.io has let go of the socket: connect() takes it
    // back. After a transport close it opens a new transport. Either way the outcome is `connect` or `connect_error`.
    socket.connect();
  }

  function scheduleReconnect(): void {
    if (leaving || socket.connected || retryTimer !== undefined) return;
    const delay = backoff.next();
    nextAttemptAt = Date.now() + delay;
    retryTimer = window.setTimeout(attempt, delay);
  }

  function sendJoin(room: string): void {
    socket.emit('join', room, (result: JoinResult) => {
      if (result.ok && result.snapshot) {
        const snapshot = result.snapshot;
        sawData();
        each((h) => h.fleetSnapshot?.(snapshot));
      }
      for (const joined of joinWaiters.get(room)?.splice(0) ?? []) joined();
    });
  }

  socket.on('connect', () => {
    if (retryTimer !== undefined) window.clearTimeout(retryTimer);
    retryTimer = undefined;
    nextAttemptAt = undefined;
    connectedAt = Date.now();
    // A restarted server knows nothing of this page: every room again (the fleet join brings a fresh snapshot).
    for (const room of rooms) sendJoin(room);
    setLink('live');
  });
  socket.on('disconnect', () => {
    // Every reason, `io server disconnect` included. A connection that held for a while resets the backoff;
    // one dropped at once (a server that accepts and closes) keeps climbing it.
    // (A transport that opened and closed before the socket connected also lands here, with no connectedAt.)
    if (connectedAt !== undefined && Date.now() - connectedAt >= STABLE_CONNECTION_MS) backoff.reset();
    connectedAt = undefined;
    setLink('lost');
    scheduleReconnect();
  });
  socket.on('connect_error', (error: Error) => {
    if (error.message === 'unauthorized') return signInAgain();
    setLink('lost');
    scheduleReconnect();
  });
  socket.on('fleet', (frame: FleetFrame) => {
    sawData();
    each((h) => h.fleet?.(frame));
  });
  socket.on('readings', (frame: ReadingsFrame) => {
    sawData();
    each((h) => h.readings?.(frame));
  });
  socket.on('dead-letters', (frame: { deviceId: string; deadLetters: DeadLetterSummary[] }) => {
    sawData();
    each((h) => h.deadLetters?.(frame));
  });
  socket.on('device-event', (event: DeviceEventMessage) => {
    sawData();
    each((h) => h.deviceEvent?.(event));
  });
  socket.on('alerts', (snapshot: AlertsSnapshot) => {
    sawData();
    each((h) => h.alertsSnapshot?.(snapshot));
  });
  socket.on('alert', (transition: AlertTransition) => {
    sawData();
    each((h) => h.alert?.(transition));
  });

  // Fleet frames are volatile: a dropped one is healed by a fresh snapshot now and then.
  window.setInterval(() => {
    if (socket.connected && rooms.has('fleet')) sendJoin('fleet');
  }, 30_000);

  const live: Live = {
    join(room) {
      rooms.add(room);
      const joined = new Promise<void>((resolve) => {
        // Without a live connection the view still loads its recent window; live frames follow on reconnect.
        const timer = window.setTimeout(resolve, JOIN_WAIT_MS);
        const waiters = joinWaiters.get(room) ?? [];
        waiters.push(() => {
          window.clearTimeout(timer);
          resolve();
        });
        joinWaiters.set(room, waiters);
      });
      if (socket.connected) sendJoin(room);
      return joined;
    },
    leave(room) {
      rooms.delete(room);
      if (socket.connected) socket.emit('leave', room);
    },
    on(h) {
      handlers.add(h);
      h.connection?.(link);
      return () => handlers.delete(h);
    },
    state: () => link,
    lastDataAt: () => lastDataAt,
    nextAttemptAt: () => nextAttemptAt,
    retryNow() {
      if (link === 'lost' && retryTimer !== undefined) attempt();
    },
  };

  // The network or the tab coming back is a good moment to look again, whatever the backoff says.
  window.addEventListener('online', () => live.retryNow());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') live.retryNow();
  });
  return live;
}
