import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { consumerGroupId } from '../../core/streams/connection.js';

const kafkaBrokers = inject('kafkaBrokers');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const prefix = `lf${runId}`;
const device = `lf-${runId}`;
const token = 'live-token';

interface LiveReading {
  deviceId: string;
  metric: string;
  value: unknown;
  ts: number;
  receivedAt: number;
}

describe('live feed', () => {
  let dataDir: string;
  let secret: string;
  let sluice: SluiceProcess | undefined;
  const start = () =>
    startSluiceProcess({
      DATA_DIR: dataDir,
      KAFKA_BROKERS: kafkaBrokers,
      INFLUX_URL: inject('influxUrl'),
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_CLIENT_ID: `lf-${prefix}`,
      KAFKA_PARTITIONS: '3',
      DASHBOARD_TOKEN: token,
    });

  beforeAll(async () => {
    dataDir = await tempDataDir();
    secret = (await addDevices(dataDir, [device]))[device]!;
  });
  afterAll(async () => {
    await sluice?.stop();
  });

  const publish = async (port: number, value: number, ts: number) => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: device, password: secret, clientId: device, reconnectPeriod: 0 });
    await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ temperature: value, ts }), { qos: 1 });
    await client.endAsync();
  };

  const joinDeviceRoom = async (port: number): Promise<{ socket: Socket; received: LiveReading[] }> => {
    const socket = io(`http://127.0.0.1:${port}`, { auth: { token }, transports: ['websocket'], reconnection: false });
    const received: LiveReading[] = [];
    socket.on('readings', (frame: { readings: LiveReading[] }) => received.push(...frame.readings));
    const joined = await new Promise<{ ok: boolean }>((resolve, reject) => {
      socket.once('connect_error', reject);
      socket.once('connect', () => socket.emit('join', `device:${device}`, resolve));
    });
    expect(joined.ok).toBe(true);
    return { socket, received };
  };

  it("pushes a published reading to a socket.io client in the device's room, and refuses a client without the token", async () => {
    sluice = await start();
    const refused = io(`http://127.0.0.1:${sluice.dashboardPort}`, { auth: { token: 'wrong' }, transports: ['websocket'], reconnection: false });
    const refusal = await new Promise<Error>((resolve) => refused.once('connect_error', resolve));
    expect(refusal.message).toBe('unauthorized');
    refused.close();

    const { socket, received } = await joinDeviceRoom(sluice.dashboardPort);
    const ts = Date.now() - 1000;
    await publish(sluice.mqttPort, 21.25, ts);
    await expect.poll(() => received, { timeout: 10_000 }).toEqual([expect.objectContaining({ deviceId: device, metric: 'temperature', value: 21.25, ts })]);
    socket.close();
  });

  it('has the recent window back from Kafka after a dashboard restart', async () => {
    expect(await sluice!.stop()).toBe(0);
    sluice = await start();
    const readings = async () => {
      const response = await fetch(`http://127.0.0.1:${sluice!.dashboardPort}/api/devices/${device}/readings?metric=temperature`, { headers: { authorization: `Bearer ${token}` } });
      return ((await response.json()) as { readings: { value: unknown }[] }).readings.map((r) => r.value);
    };
    // Nothing was published since the restart: the reading comes from the warm-up read of Kafka.
    await expect.poll(readings, { timeout: 15_000 }).toEqual([21.25]);
    const { socket, received } = await joinDeviceRoom(sluice.dashboardPort);
    await publish(sluice.mqttPort, 22.5, Date.now());
    await expect.poll(() => received.map((r) => r.value), { timeout: 10_000 }).toContain(22.5);
    expect(await readings()).toEqual([21.25, 22.5]);
    socket.close();
  });

  it("exports the writer group's consumer lag per partition, which drains to 0", async () => {
    const lagSamples = async () => {
      const text = await (await fetch(`http://127.0.0.1:${sluice!.dashboardPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      return text
        .split('\n')
        .filter((line) => line.startsWith(`sluice_consumer_lag{group="${consumerGroupId({ KAFKA_CLIENT_ID: `lf-${prefix}`, KAFKA_TOPIC_PREFIX: prefix }, 'writer')}",topic="${prefix}.telemetry"`))
        .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
    };
    await expect.poll(async () => (await lagSamples()).length, { timeout: 15_000 }).toBe(3);
    await expect.poll(async () => (await lagSamples()).reduce((a, b) => a + b, 0), { timeout: 15_000 }).toBe(0);
  });
});
