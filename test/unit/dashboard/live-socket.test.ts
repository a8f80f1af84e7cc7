import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as ioClient, type Socket } from 'socket.io-client';
import { createMetrics } from '../../../core/metrics.js';
import { createFleetState } from '../../../core/fleet-state.js';
import type { Reading } from '../../../core/reading.js';
import { cookieValue, createLiveSocket, type LiveFeedEvents, type LiveSocket } from '../../../dashboard/live-socket.js';
import { createDashboardAuth } from '../../../dashboard/auth.js';
import { buildHttpApi } from '../../../dashboard/http.js';
import type { ReadingsFrame } from '../../../dashboard/protocol.js';
import { timeNsOfMs } from '../../../core/reading.js';

describe('live socket: handshake token, rooms, batched readings', () => {
  const feed = new EventEmitter();
  const metrics = createMetrics();
  let server: Server;
  let live: LiveSocket;
  let url: string;
  const sockets: Socket[] = [];

  const connect = (options: Parameters<typeof ioClient>[1]) => {
    const socket = ioClient(url, { transports: ['websocket'], reconnection: false, ...options });
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    server = createServer();
    live = createLiveSocket({
      server,
      token: { check: (candidate) => candidate === 'tok' },
      liveFeed: feed as unknown as LiveFeedEvents,
      fleet: createFleetState({ windowMs: 60_000, maxPerSeries: 100, maxReadings: 1000 }),
      metrics,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await live.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses a handshake without the token', async () => {
    const socket = connect({ auth: { token: 'nope' } });
    const error = await new Promise<Error>((resolve) => socket.on('connect_error', resolve));
    expect(error.message).toBe('unauthorized');
  });

  it('accepts the session cookie and counts clients', async () => {
    const socket = connect({ extraHeaders: { cookie: 'other=1; sluice_session=tok' } });
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    expect((await metrics.socketClients.get()).values[0]?.value).toBeGreaterThanOrEqual(1);
  });

  it('delivers every reading of a joined device room within a batch interval, with ts and receivedAt', async () => {
    const socket = connect({ auth: { token: 'tok' } });
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    const joined = await socket.emitWithAck('join', 'device:d1');
    expect(joined).toEqual({ ok: true, room: 'device:d1' });
    expect(await socket.emitWithAck('join', 'nonsense')).toMatchObject({ ok: false });

    const received: ReadingsFrame['readings'] = [];
    const all = new Promise<number>((resolve) => {
      socket.on('readings', (frame: ReadingsFrame) => {
        received.push(...frame.readings);
        if (received.length >= 30) resolve(Date.now());
      });
    });
    const sentAt = Date.now();
    for (let i = 0; i < 30; i++) {
      const readings: Reading[] = [{ deviceId: 'd1', metric: 'temperature', value: i, ts: sentAt + i, timeNs: timeNsOfMs(sentAt + i), receivedAt: sentAt + i }, { deviceId: 'd2', metric: 'temperature', value: i, ts: sentAt, timeNs: timeNsOfMs(sentAt), receivedAt: sentAt }];
      feed.emit('readings', readings);
    }
    const doneAt = await all;
    expect(received.map((r) => r.value)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(received.every((r) => r.deviceId === 'd1' && typeof r.ts === 'number' && typeof r.receivedAt === 'number')).toBe(true);
    expect(doneAt - sentAt).toBeLessThan(2000);
  });

  it('answers a fleet join with a snapshot', async () => {
    const socket = connect({ auth: { token: 'tok' } });
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    const joined = (await socket.emitWithAck('join', 'fleet')) as { ok: boolean; snapshot: { devices: { id: string }[] } };
    expect(joined.ok).toBe(true);
    expect(joined.snapshot.devices.map((d) => d.id)).toEqual(['d1', 'd2']);
  });
});

describe('cookieValue', () => {
  it('reads one cookie from a header', () => {
    expect(cookieValue('a=1; sluice_session=abc%3D; b=2', 'sluice_session')).toBe('abc=');
    expect(cookieValue('a=1', 'sluice_session')).toBeUndefined();
    expect(cookieValue(undefined, 'sluice_session')).toBeUndefined();
  });
});

describe('live socket: wrong tokens throttled per address, with the HTTP API', () => {
  it('refuses a handshake with too-many-attempts once the address spent its budget over HTTP and socket.io alike', async () => {
    const metrics = createMetrics();
    const token = { check: (candidate: string | undefined) => candidate === 'tok' };
    const auth = createDashboardAuth({ token, metrics, budget: 3, refillMs: 60_000 });
    const app = await buildHttpApi({ token, auth, metrics, devices: () => [], readings: () => [] });
    const live = createLiveSocket({
      server: app.server,
      token,
      auth,
      liveFeed: new EventEmitter() as unknown as LiveFeedEvents,
      fleet: createFleetState({ windowMs: 60_000, maxPerSeries: 100, maxReadings: 1000 }),
      metrics,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const handshake = (options: Parameters<typeof ioClient>[1]) =>
      new Promise<{ message: string; data?: unknown }>((resolve) => {
        const socket = ioClient(url, { transports: ['websocket'], reconnection: false, ...options });
        socket.on('connect', () => {
          socket.close();
          resolve({ message: 'connected' });
        });
        socket.on('connect_error', (error: Error & { data?: unknown }) => {
          socket.close();
          resolve({ message: error.message, data: error.data });
        });
      });
    try {
      // No token at all costs nothing.
      expect((await handshake({})).message).toBe('unauthorized');
      expect((await handshake({ auth: { token: 'tok' } })).message).toBe('connected');
      expect((await fetch(`${url}/api/devices`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await handshake({ auth: { token: 'wrong' } })).message).toBe('unauthorized');
      expect((await handshake({ extraHeaders: { cookie: 'sluice_session=stale' } })).message).toBe('unauthorized');
      const refused = await handshake({ auth: { token: 'tok' } });
      expect(refused.message).toBe('too-many-attempts');
      expect(refused.data).toEqual({ retryAfterS: 60, message: 'Too many wrong tokens from your address; try again in 60 s.' });
      expect((await fetch(`${url}/api/devices`, { headers: { authorization: 'Bearer tok' } })).status).toBe(429);
      const text = await metrics.registry.getSingleMetricAsString('sluice_dashboard_auth_failures_total');
      expect(text).toContain('sluice_dashboard_auth_failures_total{reason="bad-token"} 3');
      expect(text).toContain('sluice_dashboard_auth_failures_total{reason="throttled"} 2');
    } finally {
      await live.close();
      await app.close();
    }
  });
});
