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
  join(room: string): void;
  leave(room: string): void;
  on(handlers: LiveHandlers): () => void;
}

export function connectLive(): Live {
  // The session cookie rides along with the WebSocket upgrade (same origin); no token in page script.
  const socket: Socket = io({ path: '/socket.io', transports: ['websocket'], reconnectionDelayMax: 5000 });
  const rooms = new Set<string>();
  const handlers = new Set<LiveHandlers>();
  const each = (fn: (h: LiveHandlers) => void) => handlers.forEach(fn);

  function sendJoin(room: string): void {
    socket.emit('join', room, (result: JoinResult) => {
      if (result.ok && result.snapshot) {
        const snapshot = result.snapshot;
        each((h) => h.fleetSnapshot?.(snapshot));
      }
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
      if (socket.connected) sendJoin(room);
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
