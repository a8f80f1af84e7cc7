import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sluiceBin, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { readTopic } from '../support/kafka.js';
import { createFleet, type FleetStats } from '../../simulators/fleet.js';
import { readCredentials } from '../../simulators/credentials.js';
import { PROFILES } from '../../simulators/profiles.js';
import { connectMqttJsDevice, refusalCode } from '../../simulators/connection.js';

const execFileAsync = promisify(execFile);
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

describe('simulator fault injection shows in the pipeline', () => {
  const kafkaBrokers = inject('kafkaBrokers');
  const influxUrl = inject('influxUrl');
  const prefix = `simf${runId}`;
  let sluice: SluiceProcess;
  let stats: FleetStats;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    const credentialsPath = join(dataDir, 'creds.json');
    await execFileAsync(process.execPath, [sluiceBin, 'devices', 'add', '--count', '10', '--prefix', `${prefix}-`, '--out', credentialsPath], {
      // Through the Kafka registry of the deployment under test, as an operator registers devices.
      env: { ...process.env, DATA_DIR: dataDir, KAFKA_BROKERS: kafkaBrokers, INFLUX_URL: influxUrl, KAFKA_TOPIC_PREFIX: prefix, KAFKA_CLIENT_ID: `sluice-${prefix}` },
    });
    sluice = await startSluiceProcess({
      DATA_DIR: dataDir,
      KAFKA_BROKERS: kafkaBrokers,
      INFLUX_URL: influxUrl,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_CLIENT_ID: `sluice-${prefix}`,
      KAFKA_PARTITIONS: '3',
      DASHBOARD_TOKEN: 'faults-token',
    });
    const fleet = createFleet({
      url: `mqtt://127.0.0.1:${sluice.mqttPort}`,
      devices: await readCredentials(credentialsPath),
      profile: PROFILES.environment,
      format: 'json',
      qos: 1,
      rate: 5,
      durationS: 5,
      seed: 3,
      faults: { malformed: 0.1, oversized: 0.05, clockSkew: 0.1, abruptDisconnect: 0.2, wrongSecret: 0.2 },
      oversizedBytes: 70_000,
      clockSkewMs: 3_600_000,
      reconnectInitialMs: 200,
      reconnectMaxMs: 1000,
    });
    await fleet.start();
    await fleet.finished();
    stats = await fleet.stop();
  });

  afterAll(async () => {
    await sluice?.stop();
  });

  it('injected the faults it was asked for', () => {
    expect(stats.wrongSecretDevices).toHaveLength(2);
    expect(stats.abruptDisconnectDevices).toHaveLength(2);
    expect(stats.faults.malformed).toBeGreaterThan(0);
    expect(stats.faults.oversized).toBeGreaterThan(0);
    expect(stats.faults.clockSkew).toBeGreaterThan(0);
    expect(stats.abruptDisconnects).toBe(2);
  });

  it('wrong secrets get CONNACK refusals (return code 4)', async () => {
    expect(stats.refused).toBeGreaterThanOrEqual(2);
    const error = await connectMqttJsDevice({
      host: '127.0.0.1',
      port: sluice.mqttPort,
      clientId: stats.wrongSecretDevices[0]!,
      username: stats.wrongSecretDevices[0]!,
      password: 'not-the-secret',
      will: { topic: `devices/${stats.wrongSecretDevices[0]!}/status`, payload: 'offline', qos: 1, retain: true },
      keepaliveS: 30,
      connectTimeoutMs: 10_000,
    }).then(
      async (connection) => {
        await connection.end();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(refusalCode(error)).toBe(4);
    const metrics = await (await fetch(`http://127.0.0.1:${sluice.dashboardPort}/metrics`, { headers: { authorization: 'Bearer faults-token' } })).text();
    const refusedCount = Number(/sluice_mqtt_auth_failures_total\{reason="bad-credentials"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(refusedCount).toBeGreaterThanOrEqual(stats.refused);
  });

  it('malformed and oversized payloads are dead-lettered with their codes', async () => {
    const expected = stats.faults.malformed + stats.faults.oversized;
    const records = await readTopic(kafkaBrokers, `${prefix}.deadletter`, (rs) => rs.length >= expected);
    const codes = records.map((r) => (JSON.parse(r.value) as { code: string }).code);
    expect(codes.filter((c) => c === 'INVALID_JSON').length).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c === 'PAYLOAD_TOO_LARGE').length).toBeGreaterThanOrEqual(1);
    for (const record of records) expect(record.key.startsWith(`${prefix}-`)).toBe(true);
  });

  it('clock-skewed readings are stored at the receive time, tagged ts_corrected=future', async () => {
    const records = await readTopic(kafkaBrokers, `${prefix}.telemetry`, (rs) => rs.some((r) => r.value.includes('"ts_corrected":"future"')));
    const skewed = records.map((r) => JSON.parse(r.value) as { ts: number; timeNs: string; receivedAt: number; tags?: Record<string, string> }).find((r) => r.tags?.ts_corrected === 'future');
    // The device claimed a time an hour ahead; the reading is at its receive stamp instead. The stamp comes from the
    // gateway's ns clock (docs/contracts.md §5), read apart from `receivedAt` (wall ms): they agree within milliseconds,
    // not to the millisecond, so the promise checked is "the receive time, not the device's".
    expect(Math.abs(skewed!.ts - skewed!.receivedAt)).toBeLessThan(1000);
    expect(skewed!.ts).toBe(Number(BigInt(skewed!.timeNs) / 1_000_000n));
  });

  it('an abrupt disconnect fires the will: the device goes offline with reason connection-lost', async () => {
    const abrupt = new Set(stats.abruptDisconnectDevices);
    const records = await readTopic(kafkaBrokers, `${prefix}.events`, (rs) =>
      [...abrupt].every((id) => rs.some((r) => r.key === id && r.value.includes('"connection-lost"'))),
    );
    const lost = records.map((r) => JSON.parse(r.value) as { deviceId: string; type: string; reason: string }).filter((e) => e.reason === 'connection-lost');
    expect(new Set(lost.map((e) => e.deviceId))).toEqual(abrupt);
    expect(lost.every((e) => e.type === 'offline')).toBe(true);
  });
});
