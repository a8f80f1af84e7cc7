import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Aedes, type Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { clientWithId, disconnectedCleanly, gateReads, isClosed, limitPacketSize, readNextBatchIfIdle, remoteAddressOf, shortCircuitPublish } from '../../../gateway/aedes-internals.js';

/**
 * One test per hook into aedes' or mqtt-packet's internals, against the installed packages and a real TCP
 * connection: when an upgrade moves one of them, this file fails, naming the hook.
 */
interface Stand {
  broker: Aedes;
  client: Client;
  device: Socket;
  received: mqttPacket.Packet[];
}

let open: { broker: Aedes; server: Server; device?: Socket }[] = [];

afterEach(async () => {
  for (const { broker, server, device } of open) {
    device?.destroy();
    server.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
  open = [];
});

/** A broker, a TCP server handing sockets to it, and one raw device socket; `onClient` runs as aedes creates it. */
async function stand(onClient: (client: Client, broker: Aedes) => void = () => undefined): Promise<Stand> {
  const broker = await Aedes.createBroker();
  let client!: Client;
  const accepted = new Promise<void>((resolve) => {
    const server = createServer((socket) => {
      client = broker.handle(socket);
      onClient(client, broker);
      resolve();
    });
    open.push({ broker, server });
    server.listen(0, '127.0.0.1');
  });
  const server = open.at(-1)!.server;
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
  const device = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
  open.at(-1)!.device = device;
  const received: mqttPacket.Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (packet) => received.push(packet));
  device.on('data', (data) => parser.parse(data));
  device.on('error', () => undefined);
  await accepted;
  return { broker, client, device, received };
}

const CONNECT = (clientId: string) => mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30 });
const until = async (condition: () => boolean) => expect.poll(condition, { timeout: 2000, interval: 5 }).toBe(true);

describe('aedes internals (aedes 1.2, mqtt-packet 9)', () => {
  it('remoteAddressOf: the peer address of the connection aedes wraps', async () => {
    const { client } = await stand();
    expect(remoteAddressOf(client)).toBe('127.0.0.1');
  });

  it('clientWithId: broker.clients holds a logged-in client by its id', async () => {
    const { broker, client, device, received } = await stand();
    device.write(CONNECT('hook-clients'));
    await until(() => received.some((p) => p.cmd === 'connack'));
    expect(clientWithId(broker, 'hook-clients')).toBe(client);
  });

  it('shortCircuitPublish: aedes publishes a client PUBLISH through broker.publish(packet, client, done)', async () => {
    const { broker, device, received } = await stand();
    const routed: string[] = [];
    await new Promise<void>((resolve) => broker.subscribe('t/#', (packet, done) => (routed.push(packet.topic), done()), resolve));
    shortCircuitPublish(broker, (packet) => packet.topic === 't/skipped');
    device.write(CONNECT('hook-publish'));
    device.write(mqttPacket.generate({ cmd: 'publish', topic: 't/skipped', payload: 'a', qos: 1, messageId: 1, retain: false, dup: false }));
    device.write(mqttPacket.generate({ cmd: 'publish', topic: 't/routed', payload: 'b', qos: 1, messageId: 2, retain: false, dup: false }));
    await until(() => received.filter((p) => p.cmd === 'puback').length === 2);
    await until(() => routed.includes('t/routed'));
    expect(routed).toEqual(['t/routed']);
  });

  it('gateReads: aedes reads through conn.read, so a paused connection parses nothing', async () => {
    let paused = true;
    let gated = false;
    const { client, device, received } = await stand((c) => (gated = gateReads(c, () => paused)));
    expect(gated).toBe(true);
    device.write(CONNECT('hook-reads'));
    // The CONNECT waits, unread, in the socket.
    await until(() => (client.conn as Socket).readableLength > 0);
    expect(received).toEqual([]);
    paused = false;
    device.write(mqttPacket.generate({ cmd: 'pingreq' }));
    await until(() => received.some((p) => p.cmd === 'connack'));
  });

  it('readNextBatchIfIdle: _parsingBatch and _nextBatch start aedes reading again', async () => {
    let paused = true;
    const { client, device, received } = await stand((c) => gateReads(c, () => paused));
    const state = client as unknown as { _parsingBatch: unknown; _nextBatch: unknown };
    expect(typeof state._parsingBatch).toBe('number');
    expect(typeof state._nextBatch).toBe('function');
    device.write(CONNECT('hook-batch'));
    await until(() => (client.conn as Socket).readableLength > 0);
    paused = false;
    readNextBatchIfIdle(client);
    await until(() => received.some((p) => p.cmd === 'connack'));
  });

  it('isClosed and disconnectedCleanly: aedes flags a DISCONNECT and a closed client', async () => {
    const { broker, client, device, received } = await stand();
    device.write(CONNECT('hook-disconnect'));
    await until(() => received.some((p) => p.cmd === 'connack'));
    const disconnected = new Promise<boolean>((resolve) => broker.once('clientDisconnect', (c) => resolve(disconnectedCleanly(c))));
    expect(isClosed(client)).toBe(false);
    device.write(mqttPacket.generate({ cmd: 'disconnect' }));
    expect(await disconnected).toBe(true);
    expect(isClosed(client)).toBe(true);
  });

  it('limitPacketSize: mqtt-packet parses the fixed header through _parseLength, before the body', async () => {
    const tooLarge: number[] = [];
    let limited = false;
    const { broker, device } = await stand((client) => (limited = limitPacketSize(client, () => 1024, (length) => tooLarge.push(length))));
    expect(limited).toBe(true);
    const failed = new Promise<string>((resolve) => broker.once('connectionError', (_client, error) => resolve(error.message)));
    // CONNECT announcing 200 MiB, and not one byte of its body.
    device.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x64]));
    expect(await failed).toMatch(/exceeds the limit of 1024 bytes/);
    expect(tooLarge).toEqual([200 * 1024 * 1024]);
  });
});
