import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt from 'mqtt';
import { addDevices, sluiceBin, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { startPrivateVictoria, type PrivateVictoria } from '../support/victoria.js';
import { exportSeries } from '../support/store.js';

const execFileAsync = promisify(execFile);
const kafkaBrokers = inject('kafkaBrokers');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const prefix = `rp${runId}`;
const device = `rp-${runId}`;
const other = `rpo-${runId}`;

describe('sluice replay', () => {
  let vm: PrivateVictoria;
  /**
   * The store after it lost the range. VictoriaMetrics' delete_series is no stand-in: a series that is
   * written again after a delete shows its deleted samples again. An empty store lost everything.
   */
  let emptied: PrivateVictoria;
  let sluice: SluiceProcess;
  let secrets: Record<string, string>;
  const env = () => ({ ...process.env, KAFKA_BROKERS: kafkaBrokers, INFLUX_URL: vm.url, KAFKA_TOPIC_PREFIX: prefix, KAFKA_CLIENT_ID: `rp-${prefix}` });

  beforeAll(async () => {
    // Dedup on, as InfluxDB: a replay that wrote different timestamps or tags would show as extra points.
    vm = await startPrivateVictoria({ dedup: true });
    emptied = await startPrivateVictoria({ dedup: true });
    const dataDir = await tempDataDir();
    secrets = await addDevices(dataDir, [device, other]);
    sluice = await startSluiceProcess({ DATA_DIR: dataDir, ...env(), KAFKA_PARTITIONS: '3', DASHBOARD_TOKEN: 't' } as Record<string, string>);
  });
  afterAll(async () => {
    await sluice?.stop();
    await vm?.destroy();
    await emptied?.destroy();
  });

  const publish = async (deviceId: string, from: number, count: number) => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: deviceId, password: secrets[deviceId]!, clientId: deviceId, reconnectPeriod: 0 });
    for (let i = from; i < from + count; i++) await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ rp: i, ts: 1_700_000_000_000 + i }), { qos: 1 });
    await client.endAsync();
  };
  const stored = async (deviceId: string, url = vm.url) => (await exportSeries(url, `rp_value{device="${deviceId}"}`)).flatMap((s) => s.values).sort((a, b) => a - b);
  const replay = async (from: number, to: number, devices: string[]) => {
    const args = [sluiceBin, 'replay', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), ...(devices.length ? ['--device', ...devices] : [])];
    const { stdout } = await execFileAsync(process.execPath, args, { env: { ...env(), INFLUX_URL: emptied.url } });
    return stdout;
  };

  it('restores a lost range, only that range and device, and a second replay adds nothing', async () => {
    const start = Date.now();
    await publish(device, 0, 40);
    await publish(other, 0, 10);
    const end = Date.now() + 1;
    await publish(device, 40, 10); // after the range
    await expect.poll(async () => (await stored(device)).length, { timeout: 20_000 }).toBe(50);

    const first = await replay(start, end, [device]);
    expect(first).toContain('replayed 40 records: 40 points written, 0 refused by the store');
    await expect.poll(() => stored(device, emptied.url), { timeout: 20_000 }).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(await stored(other, emptied.url)).toEqual([]);

    await replay(start, end, [device]);
    expect(await stored(device, emptied.url)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    const series = await exportSeries(emptied.url, `rp_value{device="${device}"}`);
    expect(series).toHaveLength(1);
    expect(series[0]!.timestamps).toEqual(Array.from({ length: 40 }, (_, i) => 1_700_000_000_000 + i));
  });
});
