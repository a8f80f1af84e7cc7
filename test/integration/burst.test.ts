/**
 * Issue 24: every acknowledged reading becomes its own stored point. One device publishes a burst of QoS 1 readings
 * without a device time — thousands of them within a few milliseconds — and every one must be a point of its own:
 * in production what the store receives (line protocol at ns; the test store, VictoriaMetrics, keeps only ms, so
 * the writes are read at the proxy in front of it), and in embedded mode what the readings API returns.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt from 'mqtt';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { startPrivateVictoria, type PrivateVictoria } from '../support/victoria.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const kafkaBrokers = inject('kafkaBrokers');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const BURST = 5_000;

/** Publishes `{"burst": i}` for i = 0…count−1 at QoS 1 all at once, and resolves when every PUBACK is in. */
async function publishBurst(mqttPort: number, deviceId: string, secret: string, count: number): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: deviceId, password: secret, clientId: deviceId, reconnectPeriod: 0 });
  try {
    await Promise.all(Array.from({ length: count }, (_, i) => client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ burst: i }), { qos: 1 })));
  } finally {
    await client.endAsync();
  }
}

/** A line `burst,device=d value=7 1733…` as series, value and timestamp. */
function parseLine(line: string): { series: string; value: string; ts: string } {
  const [series = '', field = '', ts = ''] = line.split(' ');
  return { series, value: field.replace(/^value=/, ''), ts };
}

describe('a burst of readings without a device time, production (real Kafka, writer processes)', () => {
  let vm: PrivateVictoria;
  let proxy: FaultProxy;
  let ingest: SluiceProcess | undefined;
  const prefix = `burst${runId}`;
  const device = `burst-${runId}`;
  let secrets: Record<string, string>;
  const env = (dataDir: string) => ({
    DATA_DIR: dataDir,
    KAFKA_BROKERS: kafkaBrokers,
    INFLUX_URL: proxy.url,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_CLIENT_ID: `b-${prefix}`,
    KAFKA_PARTITIONS: '3',
    WRITER_BATCH_SIZE: '200',
  });

  beforeAll(async () => {
    vm = await startPrivateVictoria({ dedup: true });
    proxy = await startFaultProxy(vm.url);
  });
  afterAll(async () => {
    await ingest?.stop();
    await proxy?.close();
    await vm?.destroy();
  });

  it('stores every reading as its own point at ns, and a writer killed mid-burst and restarted adds no point', { timeout: 180_000 }, async () => {
    const dataDir = await tempDataDir();
    secrets = await addDevices(dataDir, [device]);
    ingest = await startSluiceProcess(env(dataDir), { args: ['--roles', 'gateway,bridge'] });
    await publishBurst(ingest.mqttPort, device, secrets[device]!, BURST);

    const lines = () => proxy.accepted.flatMap((write) => write.lines).filter((line) => line.startsWith('burst,'));
    const points = () => new Set(lines().map((line) => { const { series, ts } = parseLine(line); return `${series} ${ts}`; }));

    // A slow store, so the first writer is caught with part of the burst stored and batches in flight.
    proxy.setWriteDelay(150);
    const first = await startSluiceProcess(env(await tempDataDir()), { args: ['--roles', 'writer'] });
    let second: SluiceProcess | undefined;
    try {
      await expect.poll(() => lines().length, { timeout: 60_000, interval: 20 }).toBeGreaterThan(0);
      expect(await first.stop('SIGKILL')).toBeNull();
      const storedAtKill = points().size;
      expect(storedAtKill).toBeLessThan(BURST);
      proxy.setWriteDelay(0);
      second = await startSluiceProcess(env(await tempDataDir()), { args: ['--roles', 'writer'] });
      await expect.poll(() => points().size, { timeout: 90_000, interval: 200 }).toBeGreaterThanOrEqual(BURST);
      // A clean stop commits what the writer stored; nothing more may arrive afterwards.
      expect(await second.stop()).toBe(0);

      expect(proxy.accepted.every((write) => write.precision === 'ns')).toBe(true);
      const all = lines().map(parseLine);
      // Every value once, each at exactly one timestamp: a re-write after the kill stored the same point again.
      const timesOfValue = new Map<string, Set<string>>();
      for (const { value, ts } of all) timesOfValue.set(value, (timesOfValue.get(value) ?? new Set()).add(ts));
      expect(points().size).toBe(BURST);
      expect([...timesOfValue.keys()].map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: BURST }, (_, i) => i));
      expect([...timesOfValue.values()].every((times) => times.size === 1)).toBe(true);
      const millis = new Set(all.map(({ ts }) => ts.slice(0, -6)));
      console.info(`burst of ${BURST}: ${points().size} distinct (series, ns) points from ${all.length} lines written (${all.length - BURST} re-written after the kill, ${storedAtKill} stored before it), spanning ${millis.size} distinct milliseconds`);
    } finally {
      await first.stop('SIGKILL');
      await second?.stop('SIGKILL');
    }
  });
});

describe('a burst of readings without a device time, embedded mode', () => {
  let sluice: SluiceProcess | undefined;
  afterAll(async () => {
    await sluice?.stop();
  });

  it('the readings API returns every one of them, each with its own timeNs, in publish order', { timeout: 120_000 }, async () => {
    const dataDir = await tempDataDir();
    const device = `eburst-${runId}`;
    const secrets = await addDevices(dataDir, [device]);
    sluice = await startSluiceProcess({ DATA_DIR: dataDir, KAFKA_BROKERS: '', INFLUX_URL: '', DASHBOARD_TOKEN: 't' });
    await publishBurst(sluice.mqttPort, device, secrets[device]!, BURST);
    type Answer = { readings: { ts: number; timeNs: string; value: number }[] };
    const fetchReadings = async (): Promise<Answer['readings']> => {
      const response = await fetch(`http://127.0.0.1:${sluice!.dashboardPort}/api/devices/${device}/readings?metric=burst&limit=100000`, { headers: { authorization: 'Bearer t' } });
      return ((await response.json()) as Answer).readings;
    };
    await expect.poll(async () => (await fetchReadings()).length, { timeout: 60_000, interval: 200 }).toBe(BURST);
    const readings = await fetchReadings();
    // Oldest first by timeNs, which the gateway stamped in the order the publishes arrived on the connection.
    expect(readings.map((r) => r.value)).toEqual(Array.from({ length: BURST }, (_, i) => i));
    expect(new Set(readings.map((r) => r.timeNs)).size).toBe(BURST);
    expect(readings.every((r) => r.ts === Number(BigInt(r.timeNs) / 1_000_000n))).toBe(true);
    const millis = new Set(readings.map((r) => r.ts)).size;
    console.info(`embedded burst of ${BURST}: the readings API returned ${readings.length} readings, ${new Set(readings.map((r) => r.value)).size} distinct values, spanning ${millis} distinct milliseconds`);
  });
});
