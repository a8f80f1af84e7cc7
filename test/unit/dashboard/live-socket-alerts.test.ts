import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as ioClient, type Socket } from 'socket.io-client';
import type { AlertTransition } from '../../../core/alerts.js';
import { createFleetState } from '../../../core/fleet-state.js';
import { createMetrics } from '../../../core/metrics.js';
import { createAlertBook } from '../../../dashboard/alerts.js';
import { createLiveSocket, type LiveFeedEvents, type LiveSocket } from '../../../dashboard/live-socket.js';
import type { AlertsSnapshot } from '../../../dashboard/protocol.js';
import { raisedAlert } from '../../support/alerts.js';

const alert = raisedAlert;

describe('live socket: alerts', () => {
  const book = createAlertBook();
  let server: Server;
  let live: LiveSocket;
  let url: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    book.add(alert('old-warning', { raisedAt: 500 }));
    book.add(alert('old-critical', { severity: 'critical', raisedAt: 100 }));
    book.add(alert('gone'));
    book.add(alert('gone', { transition: 'cleared', state: 'cleared', seq: 2, ts: 2_000 }));
    server = createServer();
    live = createLiveSocket({
      server,
      token: { check: (candidate) => candidate === 'tok' },
      liveFeed: new EventEmitter() as unknown as LiveFeedEvents,
      fleet: createFleetState({ windowMs: 60_000, maxPerSeries: 100, maxReadings: 1000 }),
      alerts: book,
      metrics: createMetrics(),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await live.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const connect = (token: string) => {
    const socket = ioClient(url, { transports: ['websocket'], reconnection: false, auth: { token } });
    sockets.push(socket);
    return socket;
  };

  it('sends every open alert, worst first, on connect', async () => {
    const socket = connect('tok');
    const snapshot = await new Promise<AlertsSnapshot>((resolve) => socket.once('alerts', resolve));
    expect(snapshot.open.map((a) => a.alertId)).toEqual(['old-critical', 'old-warning']);
    expect(snapshot.ts).toBeGreaterThan(0);
  });

  it('pushes each new transition to every client at once, and not a duplicate', async () => {
    const clients = [connect('tok'), connect('tok')];
    await Promise.all(clients.map((socket) => new Promise((resolve) => socket.once('alerts', resolve))));
    const received = clients.map(() => [] as AlertTransition[]);
    clients.forEach((socket, i) => socket.on('alert', (t: AlertTransition) => received[i]!.push(t)));

    const raised = alert('new', { severity: 'critical', raisedAt: 5_000, ts: 5_000 });
    book.add(raised);
    book.add(raised);
    book.add(alert('new', { transition: 'cleared', state: 'cleared', seq: 2, ts: 6_000, clearReason: 'condition' }));
    for (const list of received) {
      await expect.poll(() => list.map((t) => `${t.alertId}#${t.seq}`), { timeout: 2000 }).toEqual(['new#1', 'new#2']);
    }
  });

  it('sends nothing to a client without the token', async () => {
    const socket = connect('wrong');
    let heard = false;
    socket.on('alerts', () => (heard = true));
    const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
    expect(error.message).toBe('unauthorized');
    expect(heard).toBe(false);
  });
});
