import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { addDevices, sluiceBin, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { readTopic, type KafkaRecord } from '../support/kafka.js';
import { makeTestCertificates, type TestCertificates } from '../support/certs.js';
import { freePort } from '../../scripts/ports.js';

const execFileAsync = promisify(execFile);
const kafkaBrokers = inject('kafkaBrokers');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const prefix = `gw${runId}`;
const id = (name: string) => `${name}-${runId}`;
const devices = ['tcp', 'ws', 'tls', 'cert', 'acl', 'sub', 'big', 'takeover', 'will', 'raw', 'mosq', 'keep', 'fmt'].map(id);

let sluice: SluiceProcess;
let secrets: Record<string, string>;
let certs: TestCertificates;
let tlsPort: number;

function connect(deviceId: string, options: IClientOptions = {}, url = `mqtt://127.0.0.1:${sluice.mqttPort}`): Promise<MqttClient> {
  return mqtt.connectAsync(url, { username: deviceId, password: secrets[deviceId], clientId: deviceId, reconnectPeriod: 0, connectTimeout: 10_000, ...options });
}

function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (client.disconnected) return resolve();
    client.once('close', () => resolve());
  });
}

const eventsOf = async (deviceId: string, until: (events: Record<string, unknown>[]) => boolean): Promise<Record<string, unknown>[]> => {
  const parse = (records: KafkaRecord[]) => records.filter((r) => r.key === deviceId).map((r) => JSON.parse(r.value) as Record<string, unknown>);
  return parse(await readTopic(kafkaBrokers, `${prefix}.events`, (records) => until(parse(records))));
};

const telemetryOf = async (deviceId: string, count = 1) =>
  (await readTopic(kafkaBrokers, `${prefix}.telemetry`, (records) => records.filter((r) => r.key === deviceId).length >= count)).filter((r) => r.key === deviceId);

beforeAll(async () => {
  const dataDir = await tempDataDir();
  secrets = await addDevices(dataDir, devices);
  await execFileAsync(process.execPath, [sluiceBin, 'devices', 'set-format', id('fmt'), 'senml'], { env: { ...process.env, KAFKA_BROKERS: '', INFLUX_URL: '', DATA_DIR: dataDir } });
  certs = await makeTestCertificates();
  tlsPort = await freePort();
  sluice = await startSluiceProcess({
    DATA_DIR: dataDir,
    KAFKA_BROKERS: kafkaBrokers,
    INFLUX_URL: inject('influxUrl'),
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_CLIENT_ID: `gw-${prefix}`,
    KAFKA_PARTITIONS: '3',
    DASHBOARD_TOKEN: 't',
    TLS_CERT: certs.serverCert,
    TLS_KEY: certs.serverKey,
    TLS_CA: certs.ca,
    MQTT_TLS_PORT: String(tlsPort),
    MAX_PAYLOAD_BYTES: '1024',
    MQTT_MAX_PACKET_BYTES: '65536',
  });
}, 120_000);

afterAll(async () => {
  expect(await sluice?.stop()).toBe(0);
});

describe('gateway listeners', () => {
  it('accepts a device over TCP and produces its reading to Kafka', async () => {
    const client = await connect(id('tcp'));
    await client.publishAsync(`devices/${id('tcp')}/telemetry`, '{"temperature":20.5}', { qos: 1 });
    await client.endAsync();
    expect(JSON.parse((await telemetryOf(id('tcp')))[0]!.value)).toMatchObject({ deviceId: id('tcp'), metric: 'temperature', value: 20.5 });
  });

  it('accepts a device over WebSocket on /mqtt', async () => {
    const client = await connect(id('ws'), {}, `ws://127.0.0.1:${sluice.wsPort}/mqtt`);
    await client.publishAsync(`devices/${id('ws')}/telemetry/humidity`, '41.5', { qos: 1 });
    await client.endAsync();
    expect(JSON.parse((await telemetryOf(id('ws')))[0]!.value)).toMatchObject({ metric: 'humidity', value: 41.5 });
    const online = await eventsOf(id('ws'), (events) => events.some((e) => e.type === 'online'));
    expect(online.find((e) => e.type === 'online')?.reason).toBe('connected over ws');
  });

  it('accepts a device over TLS with its secret', async () => {
    const client = await connect(id('tls'), { ca: readFileSync(certs.ca) }, `mqtts://127.0.0.1:${tlsPort}`);
    await client.publishAsync(`devices/${id('tls')}/telemetry`, '{"v":1}', { qos: 1 });
    await client.endAsync();
    expect(await telemetryOf(id('tls'))).toHaveLength(1);
  });

  it('authenticates a device by its client certificate (CN = device id) without a secret', async () => {
    const { cert, key } = await certs.client(id('cert'));
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { clientId: id('cert'), ca: readFileSync(certs.ca), cert: readFileSync(cert), key: readFileSync(key), reconnectPeriod: 0 });
    await client.publishAsync(`devices/${id('cert')}/telemetry`, '{"v":2}', { qos: 1 });
    await client.endAsync();
    expect(JSON.parse((await telemetryOf(id('cert')))[0]!.value)).toMatchObject({ deviceId: id('cert'), value: 2 });
  });

  it('accepts mosquitto_pub over TLS and refuses it with a wrong secret', async () => {
    await execFileAsync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tlsPort), '--cafile', certs.ca, '-i', id('mosq'), '-u', id('mosq'), '-P', secrets[id('mosq')]!, '-q', '1', '-t', `devices/${id('mosq')}/telemetry`, '-m', '{"v":3}']);
    expect(await telemetryOf(id('mosq'))).toHaveLength(1);
    const refused = await execFileAsync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(sluice.mqttPort), '-u', id('mosq'), '-P', 'wrong', '-q', '1', '-t', `devices/${id('mosq')}/telemetry`, '-m', '1']).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(refused).toMatch(/bad user name or password|not authori[sz]ed/i);
  });
});

describe('device identity and limits', () => {
  it('refuses a wrong secret with CONNACK 4 and a missing one with CONNACK 5', async () => {
    const wrong = await connect(id('tcp'), { password: 'nope' }).catch((error: { code?: number }) => error);
    expect((wrong as { code?: number }).code).toBe(4);
    const missing = await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { clientId: 'x', reconnectPeriod: 0 }).catch((error: { code?: number }) => error);
    expect((missing as { code?: number }).code).toBe(5);
  });

  it('refuses MQTT 5 with "unacceptable protocol version" and says so in the log', async () => {
    const result = await execFileAsync('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(sluice.mqttPort), '-u', id('mosq'), '-P', secrets[id('mosq')]!, '-t', `devices/${id('mosq')}/telemetry`, '-m', '1']).then(
      () => 'accepted',
      (error: { stderr: string }) => error.stderr,
    );
    expect(result).not.toBe('accepted');
    await expect.poll(() => sluice.logs.some((l) => l.reason === 'unsupported-protocol' && String(l.msg).startsWith('refused: not MQTT 3.1.1'))).toBe(true);
  });

  it('refuses keepalive 0 (a connection that never times out)', async () => {
    const error = await connect(id('keep'), { keepalive: 0 }).catch((e: { code?: number }) => e);
    expect((error as { code?: number }).code).toBe(5);
  });

  it('dead-letters a payload over MAX_PAYLOAD_BYTES and closes a connection whose packet exceeds MQTT_MAX_PACKET_BYTES', async () => {
    const client = await connect(id('big'));
    await client.publishAsync(`devices/${id('big')}/telemetry`, JSON.stringify({ blob: 'x'.repeat(2000) }), { qos: 1 });
    const letters = await readTopic(kafkaBrokers, `${prefix}.deadletter`, (rs) => rs.some((r) => r.key === id('big')));
    expect(JSON.parse(letters.find((r) => r.key === id('big'))!.value)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', deviceId: id('big') });

    const gone = closed(client);
    client.publish(`devices/${id('big')}/telemetry`, Buffer.alloc(100_000, 1), { qos: 1 });
    await gone;
    const offline = await eventsOf(id('big'), (es) => es.some((e) => e.type === 'offline'));
    expect(offline.find((e) => e.type === 'offline')).toMatchObject({ reason: 'packet-too-large', detail: expect.stringContaining("the limit is 65536") });
    client.end(true);
  });

  it("reads a device's payloads in its registered format instead of detecting it", async () => {
    const client = await connect(id('fmt'));
    // Detected, this object would be JSON; registered as SenML, it is a SenML pack that is not an array.
    await client.publishAsync(`devices/${id('fmt')}/telemetry`, '{"n":"temperature","v":21}', { qos: 1 });
    await client.publishAsync(`devices/${id('fmt')}/telemetry`, '[{"n":"temperature","v":22}]', { qos: 1 });
    await client.endAsync();
    const letters = await readTopic(kafkaBrokers, `${prefix}.deadletter`, (rs) => rs.some((r) => r.key === id('fmt')));
    expect(JSON.parse(letters.find((r) => r.key === id('fmt'))!.value)).toMatchObject({ code: 'INVALID_SENML' });
    expect(JSON.parse((await telemetryOf(id('fmt')))[0]!.value)).toMatchObject({ metric: 'temperature', value: 22 });
  });

  it('replaces the first connection when a second one uses the same client id (takeover)', async () => {
    const first = await connect(id('takeover'));
    const firstClosed = closed(first);
    const second = await connect(id('takeover'));
    await firstClosed;
    expect(second.connected).toBe(true);
    first.end(true);
    await second.endAsync();
    const events = await eventsOf(id('takeover'), (es) => es.some((e) => e.reason === 'takeover'));
    expect(events.map((e) => `${e.type}:${e.reason}`)).toEqual(expect.arrayContaining(['online:connected over tcp', 'offline:takeover']));
  });

  it('announces an abrupt disconnect as offline (connection lost) and publishes the will', async () => {
    const client = await connect(id('will'), { will: { topic: `devices/${id('will')}/status`, payload: Buffer.from('offline'), qos: 1, retain: true } });
    client.stream.destroy();
    const events = await eventsOf(id('will'), (es) => es.some((e) => e.type === 'offline'));
    expect(events.find((e) => e.type === 'offline')?.reason).toBe('connection-lost');
    client.end(true);
  });
});

describe('topic ACL', () => {
  it('refuses a publish under another device id, disconnects, and emits an event', async () => {
    const client = await connect(id('acl'));
    const gone = closed(client);
    client.publish(`devices/${id('tcp')}/telemetry`, '{"temperature":99}', { qos: 1 });
    await gone;
    const events = await eventsOf(id('acl'), (es) => es.some((e) => e.type === 'acl-violation'));
    expect(String(events.find((e) => e.type === 'acl-violation')?.reason)).toContain(`devices/${id('tcp')}/telemetry`);
    const offline = await eventsOf(id('acl'), (es) => es.some((e) => e.type === 'offline'));
    expect(offline.find((e) => e.type === 'offline')?.reason).toBe('acl-violation');
    client.end(true);
  });

  it('lets a device subscribe to its own commands and refuses anything else', async () => {
    const client = await connect(id('sub'));
    const granted = await client.subscribeAsync(`devices/${id('sub')}/commands/#`, { qos: 1 });
    expect(granted[0]?.qos).toBe(1);
    const gone = closed(client);
    client.subscribe(`devices/${id('tcp')}/commands/#`);
    await gone;
    client.end(true);
    // $SYS stays the broker's: a device asking for it is refused like any other foreign topic.
    const sys = await connect(id('sub'));
    const sysGone = closed(sys);
    sys.subscribe('$SYS/#');
    await sysGone;
    sys.end(true);
    const events = await eventsOf(id('sub'), (es) => es.some((e) => e.type === 'offline' && String(e.detail).includes('$SYS/#')));
    expect(events.filter((e) => e.type === 'offline').map((e) => e.reason)).toEqual(['acl-violation', 'acl-violation']);
  });
});

describe('malformed traffic', () => {
  const rawSession = (bytes: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = netConnect(sluice.mqttPort, '127.0.0.1', () => socket.write(bytes));
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
      setTimeout(() => reject(new Error('the gateway kept a garbage connection open')), 15_000).unref();
    });

  it('closes a connection that sends garbage bytes, and keeps serving others', async () => {
    await rawSession(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x13, 0x37]));
    // A truncated CONNECT: the fixed header promises 40 bytes, 5 arrive, then the client goes away.
    await new Promise<void>((resolve) => {
      const socket = netConnect(sluice.mqttPort, '127.0.0.1', () => socket.end(Buffer.from([0x10, 40, 0x00, 0x04, 0x4d])));
      socket.on('close', () => resolve());
    });
    const client = await connect(id('raw'));
    await client.publishAsync(`devices/${id('raw')}/telemetry`, '{"ok":1}', { qos: 1 });
    await client.endAsync();
    expect(await telemetryOf(id('raw'))).toHaveLength(1);
    expect(sluice.child.exitCode).toBeNull();
  });
});
