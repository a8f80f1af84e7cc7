import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt from 'mqtt';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { waitForPoints } from '../support/store.js';
import { readTopic } from '../support/kafka.js';

const execFileAsync = promisify(execFile);
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
// Device times a little in the past, distinct per run: the store is shared between runs.
const baseTs = Date.now() - 60_000;

async function publishWithMqttJs(port: number, deviceId: string, secret: string, payload: string): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: deviceId, password: secret, clientId: deviceId, reconnectPeriod: 0 });
  try {
    // QoS 1: publishAsync resolves on PUBACK, which Sluice sends only after Kafka acknowledged.
    await client.publishAsync(`devices/${deviceId}/telemetry`, payload, { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

async function publishWithMosquitto(port: number, deviceId: string, secret: string, payload: string): Promise<void> {
  await execFileAsync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-i', deviceId, '-u', deviceId, '-P', secret, '-q', '1', '-t', `devices/${deviceId}/telemetry`, '-m', payload], { timeout: 20_000 });
}

describe('production pipeline: MQTT → Kafka → writer → store', () => {
  const kafkaBrokers = inject('kafkaBrokers');
  const influxUrl = inject('influxUrl');
  const prefix = `e2e${runId}`;
  const mqttDevice = `js-${runId}`;
  const mosquittoDevice = `mosq-${runId}`;
  let sluice: SluiceProcess;
  let secrets: Record<string, string>;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    secrets = await addDevices(dataDir, [mqttDevice, mosquittoDevice]);
    sluice = await startSluiceProcess({
      DATA_DIR: dataDir,
      KAFKA_BROKERS: kafkaBrokers,
      INFLUX_URL: influxUrl,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_CLIENT_ID: `sluice-${prefix}`,
      KAFKA_PARTITIONS: '3',
      DASHBOARD_TOKEN: 'e2e-token',
    });
  });

  afterAll(async () => {
    expect(await sluice?.stop()).toBe(0);
  });

  it('starts in production mode', () => {
    expect(sluice.mode).toBe('production');
  });

  it('stores a JSON reading published with mqtt.js, and Kafka holds it under the device key', async () => {
    await publishWithMqttJs(sluice.mqttPort, mqttDevice, secrets[mqttDevice]!, JSON.stringify({ temperature: 21.5, humidity: 40, ts: baseTs }));

    const temperature = await waitForPoints(influxUrl, `temperature_value{device="${mqttDevice}"}`, 1);
    expect(temperature).toHaveLength(1);
    expect(temperature[0]!.metric).toMatchObject({ __name__: 'temperature_value', device: mqttDevice });
    expect(temperature[0]!.values).toEqual([21.5]);
    expect(temperature[0]!.timestamps).toEqual([baseTs]);
    const humidity = await waitForPoints(influxUrl, `humidity_value{device="${mqttDevice}"}`, 1);
    expect(humidity[0]!.values).toEqual([40]);

    const records = await readTopic(kafkaBrokers, `${prefix}.telemetry`, (rs) => rs.filter((r) => r.key === mqttDevice).length >= 2);
    const mine = records.filter((r) => r.key === mqttDevice).map((r) => JSON.parse(r.value) as Record<string, unknown>);
    expect(mine.map((r) => r.metric).sort()).toEqual(['humidity', 'temperature']);
    expect(mine.find((r) => r.metric === 'temperature')).toMatchObject({ deviceId: mqttDevice, value: 21.5, ts: baseTs });
  });

  it('stores a reading published with mosquitto_pub', async () => {
    await publishWithMosquitto(sluice.mqttPort, mosquittoDevice, secrets[mosquittoDevice]!, JSON.stringify({ temperature: 19.25, ts: baseTs + 1 }));
    const temperature = await waitForPoints(influxUrl, `temperature_value{device="${mosquittoDevice}"}`, 1);
    expect(temperature[0]!.values).toEqual([19.25]);
    expect(temperature[0]!.timestamps).toEqual([baseTs + 1]);
    const records = await readTopic(kafkaBrokers, `${prefix}.telemetry`, (rs) => rs.some((r) => r.key === mosquittoDevice));
    expect(records.find((r) => r.key === mosquittoDevice)?.value).toContain('"value":19.25');
  });

  it('dead-letters an unparsable payload with the device id and a reason, and stays up', async () => {
    await publishWithMqttJs(sluice.mqttPort, mqttDevice, secrets[mqttDevice]!, '{"temperature": 21.5,');
    const records = await readTopic(kafkaBrokers, `${prefix}.deadletter`, (rs) => rs.some((r) => r.key === mqttDevice));
    const deadLetter = JSON.parse(records.find((r) => r.key === mqttDevice)!.value) as Record<string, string>;
    expect(deadLetter).toMatchObject({ deviceId: mqttDevice, code: 'INVALID_JSON', topic: `devices/${mqttDevice}/telemetry` });
    expect(Buffer.from(deadLetter.payload!, 'base64').toString()).toBe('{"temperature": 21.5,');
    expect(sluice.child.exitCode).toBeNull();
    const health = await fetch(`http://127.0.0.1:${sluice.dashboardPort}/healthz`);
    expect(health.status).toBe(200);
  });

  it('refuses a wrong secret with CONNACK code 4', async () => {
    const error = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: mqttDevice, password: 'wrong', reconnectPeriod: 0 })
      .then(
        (client) => {
          void client.endAsync();
          return undefined;
        },
        (e: unknown) => e as { code?: number },
      );
    expect(error?.code).toBe(4);
  });
});

describe('embedded default: the same flow without Kafka or a store', () => {
  const device = `emb-${runId}`;
  const mosquittoDevice = `embm-${runId}`;
  let sluice: SluiceProcess;
  let secrets: Record<string, string>;
  const token = 'embedded-token';

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    secrets = await addDevices(dataDir, [device, mosquittoDevice]);
    const env: Record<string, string> = { DATA_DIR: dataDir, DASHBOARD_TOKEN: token, KAFKA_BROKERS: '', INFLUX_URL: '' };
    sluice = await startSluiceProcess(env);
  });

  afterAll(async () => {
    expect(await sluice?.stop()).toBe(0);
  });

  async function readings(deviceId: string, metric: string): Promise<{ ts: number; value: unknown }[]> {
    const response = await fetch(`http://127.0.0.1:${sluice.dashboardPort}/api/devices/${deviceId}/readings?metric=${metric}&since=0`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { readings: { ts: number; value: unknown }[] }).readings;
  }

  it('says at start-up that nothing is kept across restarts', () => {
    expect(sluice.mode).toBe('embedded');
    expect(sluice.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('nothing is kept across restarts'))).toBe(true);
  });

  it('serves a reading published with mqtt.js through GET /api/devices/:id/readings', async () => {
    await publishWithMqttJs(sluice.mqttPort, device, secrets[device]!, JSON.stringify({ temperature: 23.5, humidity: 41, ts: baseTs }));
    await expect.poll(() => readings(device, 'temperature'), { timeout: 10_000 }).toEqual([expect.objectContaining({ ts: baseTs, value: 23.5 })]);
    expect(await readings(device, 'humidity')).toEqual([expect.objectContaining({ ts: baseTs, value: 41 })]);
  });

  it('serves a reading published with mosquitto_pub', async () => {
    await publishWithMosquitto(sluice.mqttPort, mosquittoDevice, secrets[mosquittoDevice]!, JSON.stringify({ temperature: 18.75, ts: baseTs + 5 }));
    await expect.poll(() => readings(mosquittoDevice, 'temperature'), { timeout: 10_000 }).toEqual([expect.objectContaining({ ts: baseTs + 5, value: 18.75 })]);
  });

  it('lists the devices with status and latest values', async () => {
    const listed = async () => {
      const response = await fetch(`http://127.0.0.1:${sluice.dashboardPort}/api/devices`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await response.json()) as { devices: { id: string; status: string; latest: Record<string, { value: unknown }> }[] };
      return body.devices.find((d) => d.id === device);
    };
    // The publishing client disconnected cleanly, so the device went online and then offline.
    await expect.poll(listed, { timeout: 10_000 }).toMatchObject({ status: 'offline', latest: { temperature: { value: 23.5 } } });
  });

  it('refuses the API without the token', async () => {
    const response = await fetch(`http://127.0.0.1:${sluice.dashboardPort}/api/devices`);
    expect(response.status).toBe(401);
  });
});
