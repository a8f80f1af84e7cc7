/**
 * Issue 25: many gateways, one fleet. Two `--roles gateway,bridge` processes, each with a DATA_DIR of its own as on
 * two machines, and a dashboard process, on the real Kafka: the registry is `{prefix}.devices`, sessions and failed
 * logins are shared through `{prefix}.events` (docs/contracts.md §4 "One fleet", §12).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { sluiceBin, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { sample, scrape } from '../support/metrics.js';

const execFileAsync = promisify(execFile);
const kafkaBrokers = inject('kafkaBrokers');
const influxUrl = inject('influxUrl');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const prefix = `edge${runId}`;
const token = 'edge-token';
const id = (name: string) => `${name}-${runId}`;
/** The login budget per device id on each gateway; small, so the shared throttle shows within a few logins. */
const BUDGET = 4;

const cluster = { KAFKA_BROKERS: kafkaBrokers, INFLUX_URL: influxUrl, KAFKA_TOPIC_PREFIX: prefix, KAFKA_CLIENT_ID: `sluice-${prefix}`, KAFKA_PARTITIONS: '3', DASHBOARD_TOKEN: token };

/** `sluice devices …` against the cluster's registry, from a directory of its own (an operator's laptop). */
async function devicesCli(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [sluiceBin, 'devices', ...args], { env: { ...process.env, ...cluster, DATA_DIR: await tempDataDir() } });
  return stdout;
}

async function addDevice(name: string): Promise<string> {
  const [printed, secret] = (await devicesCli('add', id(name))).trim().split('\t');
  expect(printed).toBe(id(name));
  return secret!;
}

const connect = (gateway: SluiceProcess, deviceId: string, secret: string, clientId = `${deviceId}-${Math.random().toString(36).slice(2, 8)}`) =>
  mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttPort}`, { username: deviceId, password: secret, clientId, reconnectPeriod: 0, keepalive: 60, connectTimeout: 5000 });

/** The CONNACK return code of one login (0: admitted; the connection is closed again). */
async function connackCode(gateway: SluiceProcess, deviceId: string, secret: string): Promise<number> {
  try {
    const client = await connect(gateway, deviceId, secret);
    await client.endAsync();
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

const closed = (client: MqttClient) => new Promise<number>((resolve) => {
  const started = Date.now();
  if (!client.connected) return resolve(0);
  client.once('close', () => resolve(Date.now() - started));
});

async function deviceRow(dashboard: SluiceProcess, deviceId: string): Promise<{ status?: string } | undefined> {
  const response = await fetch(`http://127.0.0.1:${dashboard.dashboardPort}/api/devices`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as { devices: { id: string; status?: string }[] };
  return body.devices.find((device) => device.id === deviceId);
}

async function activity(dashboard: SluiceProcess, deviceId: string): Promise<{ type: string; reason: string; gateway?: string }[]> {
  const response = await fetch(`http://127.0.0.1:${dashboard.dashboardPort}/api/devices/${deviceId}/activity`, { headers: { authorization: `Bearer ${token}` } });
  return ((await response.json()) as { events: { type: string; reason: string; gateway?: string }[] }).events;
}

describe('two gateways, one fleet (real Kafka, a DATA_DIR each)', () => {
  let gatewayA: SluiceProcess;
  let gatewayB: SluiceProcess;
  let dashboard: SluiceProcess;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    const gatewayEnv = async () => ({ ...cluster, DATA_DIR: await tempDataDir(), AUTH_FAILURE_BUDGET: String(BUDGET), AUTH_FAILURE_REFILL_MS: '60000' });
    // Started before any device exists: the registry topic may not even be there yet.
    [gatewayA, gatewayB, dashboard] = await Promise.all([
      startSluiceProcess(await gatewayEnv(), { args: ['--roles', 'gateway,bridge'] }),
      startSluiceProcess(await gatewayEnv(), { args: ['--roles', 'gateway,bridge'] }),
      startSluiceProcess({ ...cluster, DATA_DIR: await tempDataDir() }, { args: ['--roles', 'writer,dashboard'] }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
    await Promise.all([gatewayA?.stop(), gatewayB?.stop(), dashboard?.stop()]);
  });

  it('a device added through the command line publishes (QoS 1) through both gateways within 5 s', async () => {
    const deviceId = id('added');
    const secret = await addDevice('added');
    const addedAt = Date.now();
    for (const gateway of [gatewayA, gatewayB]) {
      await expect.poll(() => connackCode(gateway, deviceId, secret), { timeout: 5000, interval: 100 }).toBe(0);
      const client = await connect(gateway, deviceId, secret);
      await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ temperature: 21 }), { qos: 1 });
      await client.endAsync();
    }
    console.info(`device added through the CLI published through both gateways ${Date.now() - addedAt} ms after "devices add" returned`);
    expect(Date.now() - addedAt).toBeLessThan(5000);
  });

  it('removal closes the open session (reason removed) and refuses new logins on both gateways within 3 s', async () => {
    const deviceId = id('removed');
    const secret = await addDevice('removed');
    await expect.poll(() => connackCode(gatewayA, deviceId, secret), { timeout: 5000, interval: 100 }).toBe(0);
    const session = await connect(gatewayA, deviceId, secret);
    clients.push(session);
    const sessionClosed = closed(session);
    const removedAt = Date.now();
    await devicesCli('remove', deviceId);
    await sessionClosed;
    const closedAfterMs = Date.now() - removedAt;
    expect(closedAfterMs).toBeLessThan(3000);
    for (const gateway of [gatewayA, gatewayB]) await expect.poll(() => connackCode(gateway, deviceId, secret), { timeout: 3000 - (Date.now() - removedAt), interval: 100 }).toBe(4);
    await expect.poll(async () => (await activity(dashboard, deviceId)).filter((event) => event.type === 'offline').map((event) => event.reason), { timeout: 10_000 }).toContain('removed');
    console.info(`removal: open session closed ${closedAfterMs} ms after "devices remove" returned`);
  });

  it('disabling closes the session (reason disabled) and refuses logins with CONNACK 5; enabling lets the device in again', async () => {
    const deviceId = id('disabled');
    const secret = await addDevice('disabled');
    await expect.poll(() => connackCode(gatewayB, deviceId, secret), { timeout: 5000, interval: 100 }).toBe(0);
    const session = await connect(gatewayB, deviceId, secret);
    clients.push(session);
    const sessionClosed = closed(session);
    await devicesCli('disable', deviceId);
    expect(await sessionClosed).toBeLessThan(3000);
    await expect.poll(() => connackCode(gatewayA, deviceId, secret), { timeout: 3000, interval: 100 }).toBe(5);
    await devicesCli('enable', deviceId);
    await expect.poll(() => connackCode(gatewayA, deviceId, secret), { timeout: 3000, interval: 100 }).toBe(0);
  });

  it('a device connecting to B while its session is open on A: A closes its session (takeover), one session remains, the fleet shows it online', async () => {
    const deviceId = id('mover');
    const secret = await addDevice('mover');
    await expect.poll(() => connackCode(gatewayA, deviceId, secret), { timeout: 5000, interval: 100 }).toBe(0);
    const onA = await connect(gatewayA, deviceId, secret, deviceId);
    clients.push(onA);
    await expect.poll(async () => (await deviceRow(dashboard, deviceId))?.status, { timeout: 10_000 }).toBe('online');
    const closedOnA = closed(onA);
    const movedAt = Date.now();
    const onB = await connect(gatewayB, deviceId, secret, deviceId);
    clients.push(onB);
    const takeoverMs = await closedOnA;
    expect(Date.now() - movedAt).toBeLessThan(2000);
    // B's session stays: its own `online` is newer than everything A announced.
    await expect.poll(async () => (await activity(dashboard, deviceId)).filter((event) => event.type === 'offline').map((event) => event.reason), { timeout: 10_000 }).toContain('takeover');
    expect(onB.connected).toBe(true);
    const connectedOn = async (gateway: SluiceProcess) => sample(await scrape(gateway.dashboardPort, token), 'sluice_mqtt_connections');
    expect((await connectedOn(gatewayA)) + (await connectedOn(gatewayB))).toBeGreaterThanOrEqual(1);
    // The takeover's offline (A) is read after B's online: the fleet still shows the device online.
    expect((await deviceRow(dashboard, deviceId))?.status).toBe('online');
    await onB.endAsync();
    await expect.poll(async () => (await deviceRow(dashboard, deviceId))?.status, { timeout: 10_000 }).toBe('offline');
    console.info(`takeover across gateways: the session on A closed ${takeoverMs} ms after B's CONNACK`);
  });

  it('failed logins on one gateway spend the id budget on the other: spreading guesses over two gateways does not double them', async () => {
    const deviceId = id('guessed');
    await addDevice('guessed');
    await expect.poll(() => connackCode(gatewayA, deviceId, 'wrong'), { timeout: 5000, interval: 100 }).toBe(4);
    // The rest of the budget on A, until A refuses unchecked (CONNACK 3).
    const onA: number[] = [];
    for (let i = 1; i < BUDGET + 2; i++) onA.push(await connackCode(gatewayA, deviceId, `wrong-a-${i}`));
    expect(onA.filter((code) => code === 4)).toHaveLength(BUDGET - 1);
    expect(onA.at(-1)).toBe(3);
    // B has checked nothing for this id, yet the budget is spent: once A's `auth-failed` events reach it, it refuses
    // too. A guess every 200 ms: a gateway hears of another's failed check within that, so B checks at most one.
    const spentAt = Date.now();
    const onB: number[] = [];
    await expect
      .poll(
        async () => {
          onB.push(await connackCode(gatewayB, deviceId, `wrong-b-${onB.length}`));
          return onB.at(-1);
        },
        { timeout: 2000, interval: 200 },
      )
      .toBe(3);
    expect(onB.filter((code) => code === 4).length).toBeLessThanOrEqual(1);
    console.info(`shared login throttle: B refused ${Date.now() - spentAt} ms after A's budget was spent, after ${onB.filter((code) => code === 4).length} checked guess(es) of its own (budget ${BUDGET} per gateway)`);
  });
});

describe('a gateway behind a load balancer', () => {
  it('stays ready through a store outage: only the roles that use the store check it', async () => {
    // A store nobody answers on: the gateway does not use it, Kafka holds the readings for the writers.
    const gateway = await startSluiceProcess({ ...cluster, INFLUX_URL: 'http://127.0.0.1:9', DATA_DIR: await tempDataDir() }, { args: ['--roles', 'gateway,bridge'] });
    try {
      const readyz = async () => {
        const response = await fetch(`http://127.0.0.1:${gateway.dashboardPort}/readyz`);
        return { status: response.status, body: (await response.json()) as { checks: Record<string, boolean> } };
      };
      await expect.poll(async () => (await readyz()).status, { timeout: 10_000 }).toBe(200);
      expect(Object.keys((await readyz()).body.checks).sort()).toEqual(['kafka', 'mqtt', 'registry']);
    } finally {
      await gateway.stop();
    }
  });
});
