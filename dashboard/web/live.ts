import { io, type Socket } from 'socket.io-client';
import type { DeviceEventMessage, FleetFrame, ReadingsFrame, DeadLetterSummary } from '../protocol.js';

/** One socket.io connection for the whole page; views subscribe to rooms through it. Contract: ../live-socket.ts. */

export interface LiveHandlers {
  fleetSnapshot?(frame: FleetFrame): void;
  fleet?(frame: FleetFrame): void;
  readings?(frame: ReadingsFrame): void;
  deadLetters?(frame: { deviceId: string; deadLetters: DeadLetterSummary[] }): void;
  deviceEvent?(event: DeviceEventMessage): void;
  connection?(state: 'live' | 'connecting' | 'offline'): void;
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
}

const JOIN_WAIT_MS = 2000;

export function connectLive(): Live {
  // The session cookie rides along with the WebSocket upgrade (same origin); no token in page script.
  const socket: Socket = io({ path: '/socket.io', transports: ['websocket'], reconnectionDelayMax: 5000 });
  const rooms = new Set<string>();
  const handlers = new Set<LiveHandlers>();
  const each = (fn: (h: LiveHandlers) => void) => handlers.forEach(fn);
  const joinWaiters = new Map<string, (() => void)[]>();

  function sendJoin(room: string): void {
    socket.emit('join', room, (result: JoinResult) => {
      if (result.ok && result.snapshot) {
        const snapshot = result.snapshot;
        each((h) => h.fleetSnapshot?.(snapshot));
      }
      for (const joined of joinWaiters.get(room)?.splice(0) ?? []) joined();
    });
  }

  socket.on('connect', () => {
    each((h) => h.connection?.('live'));
    for (const room of rooms) sendJoin(room);
  });
  socket.on('disconnect', () => each((h) => h.connection?.('connecting')));
  socket.on('connect_error', (error: Error) => {
    if (error.message === 'unauthorized') {
      window.location.assign('/login');
      return;
    }
    each((h) => h.connection?.('offline'));
  });
  socket.on('fleet', (frame: FleetFrame) => each((h) => h.fleet?.(frame)));
  socket.on('readings', (frame: ReadingsFrame) => each((h) => h.readings?.(frame)));
  socket.on('dead-letters', (frame: { deviceId: string; deadLetters: DeadLetterSummary[] }) => each((h) => h.deadLetters?.(frame)));
  socket.on('device-event', (event: DeviceEventMessage) => each((h) => h.deviceEvent?.(event)));

  // Fleet frames are volatile: a dropped one is healed by a fresh snapshot now and then.
  window.setInterval(() => {
    if (socket.connected && rooms.has('fleet')) sendJoin('fleet');
  }, 30_000);

  return {
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
      h.connection?.(socket.connected ? 'live' : 'connecting');
      return () => handlers.delete(h);
    },
  };
}
