import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpBalancer, upstreamOrder, type TcpBalancer, type UpstreamLoad } from '../../../scripts/tcp-balancer.js';
import { freePort } from '../../../scripts/ports.js';

/**
 * An upstream that keeps every connection it accepted, and tags what it echoes with its name. Like aedes, it ends its
 * side when the client ended its own, unless `halfOpen`.
 */
interface TestUpstream {
  name: string;
  port: number;
  server: Server;
  accepted: Socket[];
  close(): Promise<void>;
}

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

async function upstream(name: string, onSocket: (socket: Socket) => void = (s) => s.on('data', (d) => s.write(`${name}:${d.toString()}`)), halfOpen = false): Promise<TestUpstream> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: halfOpen }, (socket) => {
    accepted.push(socket);
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const up: TestUpstream = {
    name,
    port: (server.address() as AddressInfo).port,
    server,
    accepted,
    close: () =>
      new Promise((resolve) => {
        for (const socket of accepted) socket.destroy();
        server.close(() => resolve());
      }),
  };
  opened.push(up);
  return up;
}

async function balancer(ports: number[], options: { policy?: 'least-connections' | 'round-robin'; connectTimeoutMs?: number } = {}): Promise<TcpBalancer> {
  const started = await startTcpBalancer({ upstreams: ports.map((port) => ({ host: '127.0.0.1', port })), ...options });
  opened.push(started);
  return started;
}

async function client(port: number, halfOpen = false): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: halfOpen });
  socket.on('error', () => undefined);
  opened.push({ close: async () => void socket.destroy() });
  await once(socket, 'connect');
  return socket;
}

/** Sends `text` and resolves with the first answer. */
async function ask(socket: Socket, text: string): Promise<string> {
  const answer = once(socket, 'data');
  socket.write(text);
  return ((await answer)[0] as Buffer).toString();
}

describe('upstreamOrder', () => {
  const load = (active: number, downUntil = 0): UpstreamLoad => ({ active, downUntil });
  it.each([
    ['least connections first', [load(3), load(1), load(2)], 'least-connections', 0, 1000, [1, 2, 0]],
    ['ties in turn, starting at the turn', [load(1), load(1), load(1)], 'least-connections', 4, 1000, [1, 2, 0]],
    ['a recently failed upstream last, however empty', [load(0, 2000), load(5), load(2)], 'least-connections', 0, 1000, [2, 1, 0]],
    ['a failure that is over counts no more', [load(0, 500), load(5)], 'least-connections', 1, 1000, [0, 1]],
    ['round-robin ignores the load', [load(9), load(0), load(4)], 'round-robin', 2, 1000, [2, 0, 1]],
    ['round-robin still puts a failed one last', [load(0), load(0, 5000), load(0)], 'round-robin', 1, 1000, [2, 0, 1]],
  ] as const)('%s', (_, loads, policy, turn, now, expected) => {
    expect(upstreamOrder(loads, policy, turn, now)).toEqual(expected);
  });
});

describe('the TCP balancer', () => {
  it('spreads connections by least connections and counts them per upstream', async () => {
    const [a, b] = await Promise.all([upstream('a'), upstream('b')]);
    const lb = await balancer([a.port, b.port]);
    const clients = await Promise.all(Array.from({ length: 6 }, () => client(lb.port)));
    const answers = await Promise.all(clients.map((c) => ask(c, 'hi')));
    expect(answers.filter((x) => x === 'a:hi')).toHaveLength(3);
    expect(answers.filter((x) => x === 'b:hi')).toHaveLength(3);
    expect(lb.counts()).toEqual([
      { upstream: `127.0.0.1:${a.port}`, active: 3, total: 3, failed: 0 },
      { upstream: `127.0.0.1:${b.port}`, active: 3, total: 3, failed: 0 },
    ]);
    // Two leave a: the next two go there, where there are fewer.
    const onA = clients.filter((_, i) => answers[i] === 'a:hi').slice(0, 2);
    for (const c of onA) c.destroy();
    await expect.poll(() => lb.counts()[0]!.active).toBe(1);
    const later = await Promise.all([client(lb.port), client(lb.port)]);
    expect(await Promise.all(later.map((c) => ask(c, 'x')))).toEqual(['a:x', 'a:x']);
    expect(lb.routes().map((r) => r.upstream).sort()).toEqual([0, 0, 0, 1, 1, 1]);
    expect(lb.routes().find((r) => r.remotePort === later[0]!.localPort)).toMatchObject({ upstream: 0, remoteAddress: '127.0.0.1' });
  });

  it('skips an upstream that refuses: every connection reaches the live one, and the dead one is tried last meanwhile', async () => {
    const live = await upstream('live');
    const dead = await freePort();
    const lb = await balancer([dead, live.port]);
    const clients = await Promise.all(Array.from({ length: 4 }, () => client(lb.port)));
    expect(await Promise.all(clients.map((c) => ask(c, 'ping')))).toEqual(Array(4).fill('live:ping'));
    const [deadCounts, liveCounts] = lb.counts();
    expect(liveCounts).toMatchObject({ active: 4, total: 4, failed: 0 });
    expect(deadCounts).toMatchObject({ active: 0, total: 0 });
    // Tried first by the first connection at most (the rest came while it counted as failed, or all in one burst).
    expect(deadCounts!.failed).toBeGreaterThanOrEqual(1);
    expect(deadCounts!.failed).toBeLessThanOrEqual(4);
  });

  it('keeps a device reaching a live upstream after the one it was on dies', async () => {
    const [a, b] = await Promise.all([upstream('a'), upstream('b')]);
    const lb = await balancer([a.port, b.port]);
    const first = await client(lb.port);
    expect(await ask(first, 'one')).toBe('a:one');
    const closed = once(first, 'close');
    await a.close();
    // The balancer closed the device's side when its upstream went away.
    await closed;
    // a is emptier than b once b has one: it is tried, refuses, and b takes the connection.
    for (const text of ['two', 'three', 'four']) expect(await ask(await client(lb.port), text)).toBe(`b:${text}`);
    expect(lb.counts()[0]).toMatchObject({ active: 0, total: 1 });
    expect(lb.counts()[0]!.failed).toBeGreaterThanOrEqual(1);
    expect(lb.counts()[1]).toMatchObject({ active: 3, total: 3, failed: 0 });
  });

  it('closes a client no upstream takes, and says so', async () => {
    const lb = await balancer([await freePort(), await freePort()]);
    const lonely = connect({ host: '127.0.0.1', port: lb.port });
    lonely.on('error', () => undefined);
    await once(lonely, 'close');
    expect(lb.unrouted).toBe(1);
    expect(lb.counts().map((c) => c.failed)).toEqual([1, 1]);
  });

  it('passes a half-close through: the upstream still answers after the client ended its side', async () => {
    const up = await upstream('h', (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      // Answers only once the client has finished sending, then ends its side too.
      socket.on('end', () => socket.end(`got ${Buffer.concat(chunks).toString()}`));
    }, true);
    const lb = await balancer([up.port]);
    const c = await client(lb.port, true);
    const received: Buffer[] = [];
    c.on('data', (d: Buffer) => received.push(d));
    const ended = once(c, 'end');
    c.end('all of it');
    await ended;
    expect(Buffer.concat(received).toString()).toBe('got all of it');
    await expect.poll(() => lb.counts()[0]!.active).toBe(0);
  });

  it('destroys both sides when one fails, without throwing', async () => {
    const up = await upstream('r', (socket) => socket.on('data', () => socket.resetAndDestroy()));
    const lb = await balancer([up.port]);
    const c = await client(lb.port);
    const closed = once(c, 'close');
    c.write('reset me');
    await closed;
    await expect.poll(() => lb.counts()[0]!.active).toBe(0);
    // And the client side failing ends the upstream's connection.
    const echo = await upstream('e');
    const lb2 = await balancer([echo.port]);
    const c2 = await client(lb2.port);
    expect(await ask(c2, 'x')).toBe('e:x');
    const upstreamClosed = once(echo.accepted[0]!, 'close');
    c2.resetAndDestroy();
    await upstreamClosed;
    await expect.poll(() => lb2.counts()[0]!.active).toBe(0);
  });

  it('holds what a client sends before its upstream is connected', async () => {
    const up = await upstream('q');
    const lb = await balancer([up.port]);
    const c = connect({ host: '127.0.0.1', port: lb.port });
    c.on('error', () => undefined);
    opened.push({ close: async () => void c.destroy() });
    const answer = once(c, 'data');
    c.write('early');
    expect(((await answer)[0] as Buffer).toString()).toBe('q:early');
  });

  it('close() ends every connection, both sides', async () => {
    const up = await upstream('c');
    const lb = await startTcpBalancer({ upstreams: [{ host: '127.0.0.1', port: up.port }] });
    const c = await client(lb.port);
    expect(await ask(c, 'x')).toBe('c:x');
    const clientClosed = once(c, 'close');
    const upstreamClosed = once(up.accepted[0]!, 'close');
    await lb.close();
    await Promise.all([clientClosed, upstreamClosed]);
  });
});
