/**
 * A QoS 1 resend (DUP=1, same packet id, same client id, same payload) of a publish this gateway process already
 * forwarded gets the first receive stamp, so its readings without a device time are the same points
 * (gateway/resend-stamps.ts, README "Guarantees"). Raw MQTT packets, because a client library picks its own ids.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

interface RawClient {
  socket: Socket;
  next(cmd: Packet['cmd']): Promise<Packet>;
}

async function rawClient(port: number, deviceId: string, secret: string): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const received: Packet[] = [];
  const waiting: { cmd: Packet['cmd']; resolve: (packet: Packet) => void }[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (packet) => {
    const at = waiting.findIndex((w) => w.cmd === packet.cmd);
    if (at >= 0) waiting.splice(at, 1)[0]!.resolve(packet);
    else received.push(packet);
  });
  socket.on('data', (data) => parser.parse(data));
  const next = (cmd: Packet['cmd']) =>
    new Promise<Packet>((resolve) => {
      const at = received.findIndex((p) => p.cmd === cmd);
      if (at >= 0) resolve(received.splice(at, 1)[0]!);
      else waiting.push({ cmd, resolve });
    });
  // A persistent session, as a device that resends after reconnecting has.
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: deviceId, keepalive: 30, username: deviceId, password: Buffer.from(secret) }));
  const connack = await next('connack');
  if (connack.cmd !== 'connack' || connack.returnCode !== 0) throw new Error(`login refused: ${JSON.stringify(connack)}`);
  return { socket, next };
}

async function publishRaw(client: RawClient, topic: string, payload: string, messageId: number, dup: boolean): Promise<void> {
  client.socket.write(mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId, dup, retain: false }));
  const ack = await client.next('puback');
  if (ack.cmd !== 'puback' || ack.messageId !== messageId) throw new Error(`unexpected ${JSON.stringify(ack)}`);
}

describe('QoS 1 resends without a device time', () => {
  let sluice: SluiceProcess | undefined;
  afterAll(async () => {
    await sluice?.stop();
  });

  it('a DUP resend after a reconnect stores the same point; the same payload as a new message (no DUP) is a point of its own', { timeout: 60_000 }, async () => {
    const dataDir = await tempDataDir();
    const device = `resend-${runId}`;
    const secrets = await addDevices(dataDir, [device]);
    sluice = await startSluiceProcess({ DATA_DIR: dataDir, KAFKA_BROKERS: '', INFLUX_URL: '', DASHBOARD_TOKEN: 't' });
    const topic = `devices/${device}/telemetry`;

    const first = await rawClient(sluice.mqttPort, device, secrets[device]!);
    await publishRaw(first, topic, '{"resend":1}', 7, false);
    // The device lost the connection (and, as far as it knows, the PUBACK): it reconnects and resends.
    first.socket.destroy();
    const second = await rawClient(sluice.mqttPort, device, secrets[device]!);
    await publishRaw(second, topic, '{"resend":1}', 7, true);
    await publishRaw(second, topic, '{"resend":1}', 8, false);
    // Last, on the same partition and in order: once it is readable, so is everything published before it.
    await publishRaw(second, topic, '{"sentinel":1}', 9, false);
    second.socket.end();

    type Answer = { readings: { timeNs: string; value: number }[] };
    const readings = async (metric: string) => {
      const response = await fetch(`http://127.0.0.1:${sluice!.dashboardPort}/api/devices/${device}/readings?metric=${metric}`, { headers: { authorization: 'Bearer t' } });
      return ((await response.json()) as Answer).readings;
    };
    await expect.poll(async () => (await readings('sentinel')).length, { timeout: 20_000 }).toBe(1);
    // Three acknowledged publishes, two points: the resend landed on the first one's timeNs.
    const times = (await readings('resend')).map((r) => r.timeNs);
    expect(times).toHaveLength(2);
    expect(new Set(times).size).toBe(2);
  });
});
