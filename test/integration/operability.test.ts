import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { io as ioClient } from 'socket.io-client';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { consumerGroupId } from '../../core/streams/connection.js';
import { startPrivateVictoria, type PrivateVictoria } from '../support/victoria.js';
import { exportSeries } from '../support/store.js';
import { Kafka, logLevel, readTopic } from '../support/kafka.js';
import { paced } from '../support/wait.js';
import { sample, scrape } from '../support/metrics.js';

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

describe('metrics', () => {
  const device = `met-${runId}`;
  const token = 'metrics-token';
  let sluice: SluiceProcess;
  let secret: string;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    secret = (await addDevices(dataDir, [device]))[device]!;
    sluice = await startSluiceProcess({ DATA_DIR: dataDir, DASHBOARD_TOKEN: token, KAFKA_BROKERS: '', INFLUX_URL: '' });
  });
  afterAll(async () => {
    await sluice?.stop();
  });

  it('moves each counter by exactly what happened', async () => {
    const before = await scrape(sluice.dashboardPort, token);
    const refused = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: device, password: 'wrong', reconnectPeriod: 0 })
      .catch((error: { code?: number }) => error);
    expect((refused as { code?: number }).code).toBe(4);
    const client: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: device, password: secret, clientId: device, reconnectPeriod: 0 });
    for (let i = 0; i < 7; i++) await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ a: i, b: i * 2 }), { qos: 1 });
    await client.publishAsync(`devices/${device}/telemetry`, '{"broken":', { qos: 1 });
    await client.publishAsync(`devices/${device}/telemetry/c`, '1.5', { qos: 0 });

    const delta = async (series: string) => sample(await scrape(sluice.dashboardPort, token), series) - sample(before, series);
    await expect.poll(() => delta('sluice_store_points_written_total'), { timeout: 10_000 }).toBe(15);
    expect(await delta('sluice_mqtt_connects_total')).toBe(1);
    expect(await delta('sluice_mqtt_connections')).toBe(1);
    expect(await delta('sluice_mqtt_auth_failures_total{reason="bad-credentials"}')).toBe(1);
    expect(await delta('sluice_mqtt_publishes_total{qos="1"}')).toBe(8);
    expect(await delta('sluice_mqtt_publishes_total{qos="0"}')).toBe(1);
    expect(await delta('sluice_readings_normalized_total')).toBe(15);
    expect(await delta('sluice_deadletters_total{code="INVALID_JSON"}')).toBe(1);
    expect(await delta('sluice_ingest_ack_seconds_count')).toBe(8);
    expect(await delta('sluice_live_readings_total')).toBe(15);
    await client.endAsync();
    await expect.poll(() => delta('sluice_mqtt_connections')).toBe(0);
    const text = await scrape(sluice.dashboardPort, token);
    expect(text).toContain('sluice_process_resident_memory_bytes');
    expect(sample(text, 'sluice_producer_batch_records_count')).toBeGreaterThan(0);
  });

  it('refuses /metrics without the token and serves /healthz and /readyz without it', async () => {
    expect((await fetch(`http://127.0.0.1:${sluice.dashboardPort}/metrics`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${sluice.dashboardPort}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${sluice.dashboardPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { 'embedded-queue': true, 'memory-store': true, writer: true, rules: true, registry: true, mqtt: true } });
  });
});

describe('dashboard login throttle', () => {
  const token = 'throttle-token';
  const budget = 3;
  const refillMs = 1500;
  let sluice: SluiceProcess;
  let base: string;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    sluice = await startSluiceProcess({
      DATA_DIR: dataDir,
      DASHBOARD_TOKEN: token,
      KAFKA_BROKERS: '',
      INFLUX_URL: '',
      AUTH_FAILURE_BUDGET: String(budget),
      AUTH_FAILURE_REFILL_MS: String(refillMs),
    });
    base = `http://127.0.0.1:${sluice.dashboardPort}`;
  });
  afterAll(async () => {
    await sluice?.stop();
  });

  it('answers 429 with Retry-After after AUTH_FAILURE_BUDGET wrong tokens from one address, keeps the probes public, and takes the token again once one is forgiven', async () => {
    const withToken = (value: string) => ({ headers: { authorization: `Bearer ${value}` } });
    // Requests without a token cost nothing: a browser's first visit, the API without credentials.
    for (let i = 0; i < budget + 2; i++) {
      expect((await fetch(`${base}/`, { redirect: 'manual' })).status).toBe(303);
      expect((await fetch(`${base}/api/devices`)).status).toBe(401);
    }
    for (let i = 0; i < budget; i++) expect((await fetch(`${base}/api/devices`, withToken(`guess-${i}`))).status).toBe(401);

    // Over budget: refused unchecked, the right token included, on every channel.
    const refused = await fetch(`${base}/api/devices`, withToken(token));
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(refillMs / 1000));
    expect(await refused.json()).toEqual({ error: 'too-many-attempts', message: `Too many wrong tokens from your address; try again in ${retryAfter} s.` });
    expect((await fetch(`${base}/metrics`, withToken(token))).status).toBe(429);
    const login = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}`, redirect: 'manual' });
    expect(login.status).toBe(429);
    expect(login.headers.get('retry-after')).not.toBeNull();
    expect(await login.text()).toContain('Too many wrong tokens from your address; try again in');
    const socket = ioClient(base, { transports: ['websocket'], auth: { token }, reconnection: false });
    const handshake = await new Promise<string>((resolve) => {
      socket.on('connect', () => resolve('connected'));
      socket.on('connect_error', (error) => resolve(error.message));
    });
    socket.close();
    expect(handshake).toBe('too-many-attempts');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    // One wrong token is forgiven every AUTH_FAILURE_REFILL_MS: the right one then gets in.
    await expect.poll(async () => (await fetch(`${base}/api/devices`, withToken(token))).status, { timeout: 10_000, interval: 200 }).toBe(200);
    const metrics = await scrape(sluice.dashboardPort, token);
    expect(sample(metrics, 'sluice_dashboard_auth_failures_total{reason="bad-token"}')).toBe(budget);
    expect(sample(metrics, 'sluice_dashboard_auth_failures_total{reason="throttled"}')).toBeGreaterThanOrEqual(4);
    // One warning for the burst (at most one per address per 10 s), without the token.
    const warnings = sluice.logs.filter((line) => line.msg === 'wrong dashboard token');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, remoteAddress: '127.0.0.1', via: 'bearer', failures: 1 });
    expect(JSON.stringify(sluice.logs)).not.toContain('guess-');
  });
});

describe('graceful shutdown', () => {
  const kafkaBrokers = inject('kafkaBrokers');
  let vm: PrivateVictoria;

  beforeAll(async () => {
    // No dedup: a point written twice would show, and none may be missing.
    vm = await startPrivateVictoria({ dedup: false });
  });
  afterAll(async () => {
    await vm?.destroy();
  });

  // The store writer runs on the main thread by default, on its own thread with WRITER_THREAD=true: both must drain on SIGTERM.
  it.each([
    { writerThread: 'false', metric: 'gs' },
    { writerThread: 'true', metric: 'gst' },
  ])('on SIGTERM mid-stream: every acknowledged reading is in Kafka, every consumed one is stored and committed (WRITER_THREAD=$writerThread)', async ({ writerThread, metric }) => {
    const prefix = `${metric}${runId}`;
    const devices = Array.from({ length: 4 }, (_, i) => `${metric}-${runId}-${i}`);
    const dataDir = await tempDataDir();
    const secrets = await addDevices(dataDir, devices);
    const sluice = await startSluiceProcess({
      DATA_DIR: dataDir,
      KAFKA_BROKERS: kafkaBrokers,
      INFLUX_URL: vm.url,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_CLIENT_ID: `gs-${prefix}`,
      KAFKA_PARTITIONS: '3',
      DASHBOARD_TOKEN: 't',
      WRITER_THREAD: writerThread,
    });
    const acked: number[] = [];
    let seq = 0;
    let streaming = true;
    const clients = await Promise.all(
      devices.map((deviceId) => mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: deviceId, password: secrets[deviceId]!, clientId: deviceId, reconnectPeriod: 0 })),
    );
    // A steady stream: one publish every 10 ms per device (100 msg/s) until the gateway goes away.
    const loops = clients.map((client, i) =>
      paced(10, () => streaming && client.connected, () => {
        const n = seq++;
        client.publishAsync(`devices/${devices[i]}/telemetry`, JSON.stringify({ [metric]: n }), { qos: 1 }).then(
          () => acked.push(n),
          () => undefined,
        );
      }),
    );
    await expect.poll(() => acked.length, { timeout: 20_000 }).toBeGreaterThan(500);
    // The writer's counters reach /metrics from either thread.
    const pointsWritten = async () => {
      const text = await (await fetch(`http://127.0.0.1:${sluice.dashboardPort}/metrics`, { headers: { authorization: 'Bearer t' } })).text();
      return Number(/^sluice_store_points_written_total (\S+)$/m.exec(text)?.[1] ?? 0);
    };
    await expect.poll(pointsWritten, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await sluice.stop('SIGTERM')).toBe(0);
    streaming = false;
    await Promise.all(loops);
    for (const client of clients) client.end(true);
    expect(sluice.logs.some((l) => l.msg === 'shutting down')).toBe(true);

    // Acknowledged means in Kafka.
    const records = await readTopic(kafkaBrokers, `${prefix}.telemetry`, (rs) => {
      const seen = new Set(rs.map((r) => (JSON.parse(r.value) as { value: number }).value));
      return acked.every((n) => seen.has(n));
    });
    expect(records.length).toBeGreaterThanOrEqual(acked.length);

    // Consumed and committed means stored: every record below the writer's committed offsets is in the store.
    const admin = new Kafka({ clientId: 'gs-assert', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const committed = (await admin.fetchOffsets({ groupId: consumerGroupId({ KAFKA_CLIENT_ID: `gs-${prefix}`, KAFKA_TOPIC_PREFIX: prefix }, 'writer'), topics: [`${prefix}.telemetry`] }))[0]!.partitions;
    await admin.disconnect();
    const fullTopic = await readTopic(kafkaBrokers, `${prefix}.telemetry`, (rs) => rs.length >= records.length);
    const offsets = new Map<number, number>(committed.map((p) => [p.partition, Number(p.offset)]));
    const partitionRecords = await readTopicWithOffsets(kafkaBrokers, `${prefix}.telemetry`, fullTopic.length);
    const mustBeStored = partitionRecords.filter((r) => r.offset < (offsets.get(r.partition) ?? 0)).map((r) => r.value);
    expect(mustBeStored.length).toBeGreaterThan(0);
    // The writer commits its last batches while closing; the store makes a write searchable within a second or so.
    const missing = async () => {
      const stored = new Set((await exportSeries(vm.url, `${metric}_value`)).flatMap((s) => s.values));
      return mustBeStored.filter((n) => !stored.has(n));
    };
    await expect.poll(missing, { timeout: 15_000, interval: 250, message: 'committed readings missing from the store' }).toEqual([]);
  });
});

async function readTopicWithOffsets(brokers: string, topic: string, count: number): Promise<{ partition: number; offset: number; value: number }[]> {
  const kafka = new Kafka({ clientId: 'gs-offsets', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `gs-offsets-${Date.now()}` });
  const found: { partition: number; offset: number; value: number }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${found.length} of ${count} records`)), 30_000);
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        found.push({ partition, offset: Number(message.offset), value: (JSON.parse(message.value!.toString()) as { value: number }).value });
        if (found.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return found;
}
