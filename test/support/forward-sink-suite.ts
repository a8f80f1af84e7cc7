/**
 * The end-to-end contract every forward sink meets (docs/contracts.md §16), run once per sink against its real server
 * (test/integration/forward-*.test.ts): devices publish over MQTT to a real Sluice process with the gateway, bridge,
 * forwarder and dashboard roles on the shared Kafka; what arrives is read back from the sink's server.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { ConfigResourceTypes, Kafka, logLevel } from '../../core/streams/kafkajs.js';
import type { ForwardSinkName } from '../../core/seams.js';
import { readingIdOf } from '../../core/records.js';
import type { Reading } from '../../core/reading.js';
import type { ForwardedMessage, PrivateSinkServer } from '../../scripts/sinks/types.js';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from './sluice-process.js';
import { readTopic } from './kafka.js';
import { paced } from './wait.js';

export interface ForwardSinkSuite {
  sink: ForwardSinkName;
  /** Starts a private server of this sink whose target is named after `topicPrefix`. */
  startServer(topicPrefix: string): Promise<PrivateSinkServer>;
  /**
   * A reading this server refuses for good, and why: its JSON is `bytes` long (over the server's message size limit)
   * and it is written straight to `{prefix}.telemetry`, as any producer may, since a device cannot publish one that
   * large. `reason` matches the dead letter's reason.
   */
  oversized: { bytes: number; reason: RegExp };
  /** Whether the server's messages carry the reading id (RabbitMQ message-id, a Pulsar property). */
  carriesId: boolean;
}

const TOKEN = 'forward-suite-token';

interface Arrived {
  reading: Reading;
  message: ForwardedMessage;
}

/** Per device, the sequence numbers in the order of their first arrival, and the copies beyond the first. */
function arrivals(arrived: readonly Arrived[], metric: string): { firstOrder: Map<string, number[]>; duplicates: number; ids: Set<string> } {
  const firstOrder = new Map<string, number[]>();
  const ids = new Set<string>();
  let duplicates = 0;
  for (const { reading } of arrived) {
    if (reading.metric !== metric) continue;
    const id = readingIdOf(reading);
    if (ids.has(id)) {
      duplicates++;
      continue;
    }
    ids.add(id);
    const list = firstOrder.get(reading.deviceId) ?? [];
    list.push(reading.value as number);
    firstOrder.set(reading.deviceId, list);
  }
  return { firstOrder, duplicates, ids };
}

async function pipeline(port: number): Promise<{ sinks: { sink: string; state: string; lagRecords: number | null; refused: number | null }[] }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/pipeline`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await response.json()) as never;
}

async function readiness(port: number): Promise<{ status: string; checks: Record<string, boolean> }> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  return (await response.json()) as never;
}

export function describeForwardSink(suite: ForwardSinkSuite): void {
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const prefix = `fw${suite.sink.slice(0, 3)}${runId}`;
  const devices = Array.from({ length: 6 }, (_, i) => `${suite.sink}.dev-${runId}.${i}`);

  describe(`forwarding to ${suite.sink} (real server, real Kafka, a Sluice process)`, () => {
    let server: PrivateSinkServer;
    let sluice: SluiceProcess;
    let clients: MqttClient[] = [];
    /** Everything the server holds, read from its beginning by the current reader. */
    let arrived: Arrived[] = [];
    let consumer: { close(): Promise<void> } | undefined;
    /** A reader does not outlive its server: after a restart a new one reads the target again from its beginning. */
    const readFromStart = async () => {
      await consumer?.close().catch(() => undefined);
      const fresh: Arrived[] = [];
      arrived = fresh;
      consumer = await server.consume((message) => fresh.push({ reading: JSON.parse(message.body.toString()) as Reading, message }));
    };

    beforeAll(async () => {
      server = await suite.startServer(prefix);
      await readFromStart();
      const dataDir = await tempDataDir();
      const secrets = await addDevices(dataDir, devices);
      sluice = await startSluiceProcess(
        {
          ...server.env,
          DATA_DIR: dataDir,
          KAFKA_BROKERS: inject('kafkaBrokers'),
          INFLUX_URL: inject('influxUrl'),
          KAFKA_TOPIC_PREFIX: prefix,
          KAFKA_CLIENT_ID: `fw-${prefix}`,
          KAFKA_PARTITIONS: '3',
          DASHBOARD_TOKEN: TOKEN,
          FORWARDER_UNREADY_AFTER_MS: '3000',
        },
        { args: ['--roles', 'gateway,bridge,forwarder,dashboard'], timeoutMs: 120_000 },
      );
      clients = await Promise.all(
        devices.map((deviceId) => mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: deviceId, password: secrets[deviceId]!, clientId: deviceId, keepalive: 120, reconnectPeriod: 500 })),
      );
    }, 600_000);

    afterAll(async () => {
      for (const client of clients) await client.endAsync(true).catch(() => undefined);
      await consumer?.close().catch(() => undefined);
      await sluice?.stop();
      await server?.close();
    }, 120_000);

    it('forwards every reading published over MQTT, each once, per device in order, as the reading JSON with its id', async () => {
      const perDevice = 40;
      await Promise.all(
        clients.map(async (client, index) => {
          for (let seq = 1; seq <= perDevice; seq++) await client.publishAsync(`devices/${devices[index]}/telemetry`, JSON.stringify({ order: seq, temp: 20 + seq / 10 }), { qos: 1 });
        }),
      );
      await expect.poll(() => arrivals(arrived, 'order').ids.size, { timeout: 60_000, interval: 200 }).toBe(devices.length * perDevice);
      const { firstOrder, duplicates } = arrivals(arrived, 'order');
      for (const device of devices) expect(firstOrder.get(device)).toEqual(Array.from({ length: perDevice }, (_, i) => i + 1));
      // Nothing failed in this run, so nothing was written twice.
      expect(duplicates).toBe(0);
      const sample = arrived.find((a) => a.reading.metric === 'order')!;
      expect(sample.reading).toMatchObject({ deviceId: expect.any(String), metric: 'order', value: expect.any(Number), timeNs: expect.any(String) });
      expect(sample.message.key).toContain(sample.reading.deviceId.split('.')[0]);
      if (suite.carriesId) for (const { reading, message } of arrived) expect(message.id).toBe(readingIdOf(reading));
      await expect.poll(async () => (await pipeline(sluice.dashboardPort)).sinks.find((s) => s.sink === suite.sink)?.lagRecords, { timeout: 30_000, interval: 500 }).toBe(0);
    }, 120_000);

    it('rides out its server stopped for 15 s under a steady stream: nothing acknowledged is lost, the lag drains, the forwarder stays up', async () => {
      const acked = new Map<string, number[]>(devices.map((d) => [d, []]));
      let seq = 0;
      let publishing = true;
      const stream = paced(50, () => publishing, () => {
        seq++;
        const n = seq;
        clients.forEach((client, index) => {
          const device = devices[index]!;
          client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ outage: n }), { qos: 1 }).then(
            () => acked.get(device)!.push(n),
            () => undefined,
          );
        });
      });
      await expect.poll(() => arrivals(arrived, 'outage').ids.size, { timeout: 30_000, interval: 100 }).toBeGreaterThan(devices.length * 5);
      const pid = sluice.child.pid;
      await server.stop();
      const stoppedAt = Date.now();
      // The forwarder notices: its sink retries, and after FORWARDER_UNREADY_AFTER_MS readiness turns red.
      await expect.poll(async () => (await readiness(sluice.dashboardPort)).checks[`sink-${suite.sink}`], { timeout: 30_000, interval: 250 }).toBe(false);
      expect((await pipeline(sluice.dashboardPort)).sinks.find((s) => s.sink === suite.sink)?.state).toBe('retrying');
      await expect.poll(() => Date.now() - stoppedAt, { timeout: 30_000, interval: 250 }).toBeGreaterThanOrEqual(15_000);
      const seqAtRestart = seq;
      await server.start();
      await readFromStart();
      // Readings published after the restart arrive too, behind the backlog: then the stream stops.
      await expect.poll(() => arrived.some((a) => a.reading.metric === 'outage' && (a.reading.value as number) > seqAtRestart), { timeout: 120_000, interval: 250 }).toBe(true);
      publishing = false;
      await stream;
      const ackedIds = [...acked.values()].reduce((n, list) => n + list.length, 0);
      // Every acknowledged reading arrives, once at least, per device in order of first arrival.
      await expect
        .poll(
          () => {
            const { firstOrder } = arrivals(arrived, 'outage');
            return devices.every((device) => acked.get(device)!.every((n) => firstOrder.get(device)?.includes(n)));
          },
          { timeout: 120_000, interval: 500 },
        )
        .toBe(true);
      const { firstOrder, duplicates } = arrivals(arrived, 'outage');
      for (const device of devices) {
        const order = firstOrder.get(device)!;
        expect(order).toEqual([...order].sort((a, b) => a - b));
      }
      // About 20 s of publishing, 20 a second per device, most of it while the server was down.
      expect(ackedIds).toBeGreaterThan(devices.length * 100);
      console.info(`[${suite.sink}] outage: ${ackedIds} acknowledged readings, all forwarded; ${duplicates} duplicate copies`);
      await expect.poll(async () => (await pipeline(sluice.dashboardPort)).sinks.find((s) => s.sink === suite.sink)?.lagRecords, { timeout: 60_000, interval: 500 }).toBe(0);
      await expect.poll(async () => (await readiness(sluice.dashboardPort)).status, { timeout: 30_000, interval: 250 }).toBe('ready');
      expect(sluice.child.exitCode).toBeNull();
      expect(sluice.child.pid).toBe(pid);
      expect(sluice.logs.filter((line) => line.level === 60 || line.level === 'fatal')).toEqual([]);
    }, 300_000);

    it('dead-letters a reading the server refuses for good with the server\'s reason, and goes on with the partition', async () => {
      const device = devices[0]!;
      const value = 'x'.repeat(suite.oversized.bytes);
      const oversized: Reading = { deviceId: device, metric: 'blob', value, ts: Date.now(), timeNs: `${Date.now()}000000`, receivedAt: Date.now() };
      const kafka = new Kafka({ clientId: `fw-suite-${runId}`, brokers: inject('kafkaBrokers').split(','), logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      // The topic's own limit must let the record in, so the sink is the one to refuse it.
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: `${prefix}.telemetry`, configEntries: [{ name: 'max.message.bytes', value: String(suite.oversized.bytes * 2 + 100_000) }] }] });
      await admin.disconnect();
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      await producer.send({ topic: `${prefix}.telemetry`, messages: [{ key: device, value: JSON.stringify(oversized) }] });
      await producer.disconnect();
      await clients[0]!.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ after: 1 }), { qos: 1 });

      const letters = await readTopic(inject('kafkaBrokers'), `${prefix}.deadletter`, (records) => records.some((r) => r.value.includes('SINK_REJECTED')), 60_000);
      const letter = JSON.parse(letters.find((r) => r.value.includes('SINK_REJECTED'))!.value) as { code: string; reason: string; deviceId: string; payloadBytes: number };
      expect(letter).toMatchObject({ code: 'SINK_REJECTED', deviceId: device });
      expect(letter.reason).toMatch(new RegExp(`^${suite.sink} refused this reading: `));
      expect(letter.reason).toMatch(suite.oversized.reason);
      // The partition goes on: the device's next reading arrives, and the refused one never does.
      await expect.poll(() => arrived.some((a) => a.reading.deviceId === device && a.reading.metric === 'after'), { timeout: 60_000, interval: 200 }).toBe(true);
      expect(arrived.some((a) => a.reading.metric === 'blob')).toBe(false);
      await expect.poll(async () => (await pipeline(sluice.dashboardPort)).sinks.find((s) => s.sink === suite.sink)?.refused, { timeout: 10_000 }).toBe(1);
    }, 180_000);
  });
}
