import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnackError, connectLean, createPacketReader, encodePublish, openLeanSession, Outbox } from '../../../simulators/lean-mqtt.js';

const DUP = 0x08;

/** A PUBLISH as the server reads it [MQTT-3.3]. */
interface SeenPublish {
  dup: boolean;
  qos: number;
  packetId: number;
  topic: string;
  payload: string;
}

function decodePublish(header: number, body: Buffer): SeenPublish {
  const qos = (header >> 1) & 0x03;
  const topicLength = body.readUInt16BE(0);
  const topic = body.subarray(2, 2 + topicLength).toString('utf8');
  const packetId = qos > 0 ? body.readUInt16BE(2 + topicLength) : 0;
  return { dup: (header & DUP) !== 0, qos, packetId, topic, payload: body.subarray(2 + topicLength + (qos > 0 ? 2 : 0)).toString('utf8') };
}

const puback = (packetId: number): Buffer => Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff]);

/**
 * A scripted MQTT server: accepts every CONNECT (or refuses with `refuse` codes, one per connection, while
 * any are left), records each connection's PUBLISH packets and hands the socket to the test.
 */
async function fakeBroker(options: { refuse?: number[] } = {}): Promise<{ port: number; connections: { socket: Socket; publishes: SeenPublish[] }[]; next(): Promise<{ socket: Socket; publishes: SeenPublish[] }>; server: Server }> {
  const connections: { socket: Socket; publishes: SeenPublish[] }[] = [];
  const waiters: ((c: { socket: Socket; publishes: SeenPublish[] }) => void)[] = [];
  const refusals = [...(options.refuse ?? [])];
  const server = createServer((socket) => {
    const connection = { socket, publishes: [] as SeenPublish[] };
    socket.on('error', () => undefined);
    socket.on(
      'data',
      createPacketReader((header, body) => {
        const type = header >> 4;
        if (type === 1) {
          const code = refusals.shift() ?? 0;
          socket.write(Buffer.from([0x20, 0x02, 0x00, code]));
          if (code !== 0) return void socket.end();
          connections.push(connection);
          waiters.shift()?.(connection);
        } else if (type === 3) {
          connection.publishes.push(decodePublish(header, body));
        }
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : 0,
    connections,
    next: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('Outbox (what a session still owes the server)', () => {
  it('resends unacknowledged QoS 1 messages with DUP and the same packet identifier after the connection is lost', () => {
    const outbox = new Outbox();
    const a = outbox.add('devices/d1/telemetry', Buffer.from('a'), 1, false);
    const b = outbox.add('devices/d1/telemetry', Buffer.from('b'), 1, false);
    const first = [outbox.write(a), outbox.write(b)];
    expect(first.map((packet) => packet[0]! & DUP)).toEqual([0, 0]);

    expect(outbox.connectionLost()).toBe(2);
    const resend = outbox.unwritten();
    expect(resend).toEqual([a, b]);
    const again = resend.map((entry) => outbox.write(entry));
    expect(again.map((packet) => packet[0]! & DUP)).toEqual([DUP, DUP]);
    // Same bytes apart from the DUP flag: same packet identifier, topic and payload.
    again.forEach((packet, i) => expect(Buffer.concat([Buffer.from([packet[0]! & ~DUP]), packet.subarray(1)])).toEqual(first[i]));
  });

  it('puts resends before messages published while disconnected, and sends those without DUP', () => {
    const outbox = new Outbox();
    const old = outbox.add('t', Buffer.from('old'), 1, false);
    outbox.write(old);
    outbox.connectionLost();
    const fresh = outbox.add('t', Buffer.from('new'), 1, false);
    const packets = outbox.unwritten().map((entry) => outbox.write(entry));
    expect(packets.map((packet) => decodePublish(packet[0]!, packet.subarray(2)))).toMatchObject([
      { dup: true, packetId: old.packetId, payload: 'old' },
      { dup: false, packetId: fresh.packetId, payload: 'new' },
    ]);
  });

  it('forgets a message on its PUBACK, ignores an unknown or repeated one, and never reuses an identifier in flight', () => {
    const outbox = new Outbox();
    const entries = Array.from({ length: 3 }, (_, i) => outbox.add('t', Buffer.from(String(i)), 1, false));
    expect(new Set(entries.map((e) => e.packetId)).size).toBe(3);
    expect(outbox.ack(entries[1]!.packetId)).toBe(entries[1]);
    expect(outbox.ack(entries[1]!.packetId)).toBeUndefined();
    expect(outbox.ack(999)).toBeUndefined();
    expect(outbox.size).toBe(2);
    // Identifiers wrap at 65,535 but skip the ones still unacknowledged [MQTT-2.3.1-2].
    const wrap = new Outbox();
    const held = wrap.add('t', Buffer.from('held'), 1, false);
    for (let i = 1; i < 65_535; i++) wrap.ack(wrap.add('t', Buffer.from('x'), 1, false).packetId);
    expect(wrap.add('t', Buffer.from('y'), 1, false).packetId).not.toBe(held.packetId);
  });

  it('drops a QoS 0 message once written and never sets DUP on QoS 0', () => {
    const outbox = new Outbox();
    const entry = outbox.add('t', Buffer.from('q0'), 0, false);
    expect(outbox.write(entry)[0]! & DUP).toBe(0);
    expect(outbox.size).toBe(0);
    expect(encodePublish('t', Buffer.from('x'), 0, 0, false, true)[0]! & DUP).toBe(0);
  });

  it('fails everything still owed when the session ends', () => {
    const outbox = new Outbox();
    const errors: string[] = [];
    outbox.add('t', Buffer.from('a'), 1, false, (error) => errors.push(error?.message ?? 'acked'));
    outbox.failAll(new Error('session ended'));
    expect(errors).toEqual(['session ended']);
    expect(outbox.size).toBe(0);
  });
});

describe('openLeanSession (a device that reconnects and resends)', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('after a dropped connection reconnects, resends the unacknowledged message with DUP and the same id, then sends what was queued', async () => {
    const broker = await fakeBroker();
    cleanup.push(() => new Promise<void>((resolve) => broker.server.close(() => resolve())));
    const events: string[] = [];
    const firstConnection = broker.next();
    const session = await openLeanSession({
      host: '127.0.0.1',
      port: broker.port,
      clientId: 'd1',
      minReconnectMs: 10,
      maxReconnectMs: 20,
      onDropped: ({ unacked }) => events.push(`dropped ${unacked}`),
      onReconnected: ({ resent }) => events.push(`reconnected, resent ${resent}`),
    });
    cleanup.push(() => session.end());
    const first = await firstConnection;
    const acks: string[] = [];
    session.publish('devices/d1/telemetry', '{"v":1}', 1, (error) => acks.push(error ? error.message : 'one'));
    await until(() => first.publishes.length === 1);
    expect(first.publishes[0]).toMatchObject({ dup: false, qos: 1, payload: '{"v":1}' });

    // The server goes away with the message unacknowledged, as a killed gateway would.
    const second = broker.next();
    first.socket.destroy();
    await until(() => !session.connected);
    session.publish('devices/d1/telemetry', '{"v":2}', 1, (error) => acks.push(error ? error.message : 'two'));
    expect(session.inflight()).toBe(2);
    const reconnected = await second;
    await until(() => reconnected.publishes.length === 2);
    expect(reconnected.publishes).toEqual([
      { ...first.publishes[0], dup: true },
      expect.objectContaining({ dup: false, payload: '{"v":2}' }),
    ]);
    expect(reconnected.publishes[1]!.packetId).not.toBe(first.publishes[0]!.packetId);
    expect(events).toEqual(['dropped 1', 'reconnected, resent 1']);

    for (const publish of reconnected.publishes) reconnected.socket.write(puback(publish.packetId));
    await until(() => acks.length === 2);
    expect(acks).toEqual(['one', 'two']);
    expect(session.inflight()).toBe(0);
  });

  it('keeps retrying through CONNACK refusals and reports each one', async () => {
    const broker = await fakeBroker({ refuse: [0, 3, 3] });
    cleanup.push(() => new Promise<void>((resolve) => broker.server.close(() => resolve())));
    const refusals: number[] = [];
    const firstConnection = broker.next();
    const session = await openLeanSession({ host: '127.0.0.1', port: broker.port, clientId: 'd1', minReconnectMs: 5, maxReconnectMs: 10, onRefused: (code) => refusals.push(code) });
    cleanup.push(() => session.end());
    const first = await firstConnection;
    let acked = false;
    session.publish('t', 'x', 1, (error) => (acked = !error));
    await until(() => first.publishes.length === 1);
    const later = broker.next();
    first.socket.destroy();
    const accepted = await later;
    await until(() => accepted.publishes.length === 1);
    accepted.socket.write(puback(accepted.publishes[0]!.packetId));
    await until(() => acked);
    expect(refusals).toEqual([3, 3]);
  });

  it('rejects a refused first connection with the CONNACK code, and fails what is owed when ended', async () => {
    const refusing = await fakeBroker({ refuse: [5] });
    cleanup.push(() => new Promise<void>((resolve) => refusing.server.close(() => resolve())));
    await expect(openLeanSession({ host: '127.0.0.1', port: refusing.port, clientId: 'd1' })).rejects.toBeInstanceOf(ConnackError);

    const broker = await fakeBroker();
    cleanup.push(() => new Promise<void>((resolve) => broker.server.close(() => resolve())));
    const session = await openLeanSession({ host: '127.0.0.1', port: broker.port, clientId: 'd2' });
    const outcome: string[] = [];
    session.publish('t', 'x', 1, (error) => outcome.push(error?.message ?? 'acked'));
    await session.end();
    expect(outcome).toEqual(['session ended']);
  });
});

describe('connectLean (one connection, no resends)', () => {
  it('acknowledges on PUBACK and fails what is in flight when the server drops the connection', async () => {
    const broker = await fakeBroker();
    const connection = broker.next();
    const client = await connectLean({ host: '127.0.0.1', port: broker.port, clientId: 'd1' });
    const server = await connection;
    const outcome: string[] = [];
    let closed = false;
    client.onClose(() => (closed = true));
    client.publish('t', 'a', 1, (error) => outcome.push(error ? 'failed' : 'a acked'));
    client.publish('t', 'b', 1, (error) => outcome.push(error ? 'b failed' : 'b acked'));
    await until(() => server.publishes.length === 2);
    server.socket.write(puback(server.publishes[0]!.packetId));
    await until(() => outcome.length === 1);
    expect(client.inflight()).toBe(1);
    server.socket.destroy();
    await until(() => closed);
    expect(outcome).toEqual(['a acked', 'b failed']);
    expect(client.closed).toBe(true);
    await new Promise<void>((resolve) => broker.server.close(() => resolve()));
  });
});
