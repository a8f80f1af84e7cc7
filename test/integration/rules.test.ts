import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { Kafka, logLevel } from '../support/kafka.js';
import { readTopic, type KafkaRecord } from '../support/kafka.js';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { partitionForKey } from '../../core/murmur2.js';
import { consumerGroupId } from '../../core/streams/connection.js';
import type { AlertTransition } from '../../core/alerts.js';
import { waitUntil } from '../support/wait.js';

const kafkaBrokers = inject('kafkaBrokers');
const influxUrl = inject('influxUrl');
const PARTITIONS = 6;
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

const processes: SluiceProcess[] = [];
const clients: MqttClient[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.endAsync(true);
  for (const process of processes.splice(0).reverse()) await process.stop('SIGKILL');
  for (const server of servers.splice(0)) server.close();
});

interface Deployment {
  prefix: string;
  dataDir: string;
  rulesFile: string;
  secrets: Record<string, string>;
  env: Record<string, string>;
}

async function deployment(name: string, devices: string[], rulesYaml: string): Promise<Deployment> {
  const prefix = `rules-${name}-${runId}`;
  const dataDir = await tempDataDir();
  const rulesFile = join(dataDir, 'rules.yaml');
  await writeFile(rulesFile, rulesYaml);
  const secrets = await addDevices(dataDir, devices);
  const env = {
    DATA_DIR: dataDir,
    KAFKA_BROKERS: kafkaBrokers,
    INFLUX_URL: influxUrl,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_PARTITIONS: String(PARTITIONS),
    RULES_FILE: rulesFile,
    RULES_STATE_FLUSH_MS: '200',
    DASHBOARD_TOKEN: 'rules-token',
  };
  return { prefix, dataDir, rulesFile, secrets, env };
}

async function start(d: Deployment, roles: string): Promise<SluiceProcess> {
  const process = await startSluiceProcess(d.env, { args: ['--roles', roles] });
  processes.push(process);
  return process;
}

async function device(gateway: SluiceProcess, d: Deployment, id: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttPort}`, { username: id, password: d.secrets[id]!, clientId: id, reconnectPeriod: 0 });
  clients.push(client);
  return client;
}

const publish = (client: MqttClient, id: string, temperature: number) => client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ temperature }), { qos: 1 });

const alertsOf = (records: KafkaRecord[]): AlertTransition[] => records.map((r) => JSON.parse(r.value) as AlertTransition);
/** What a consumer that dedupes by (alertId, seq, transition) sees. */
const distinct = (alerts: AlertTransition[]): AlertTransition[] => [...new Map(alerts.map((a) => [`${a.alertId}:${a.seq}:${a.transition}`, a])).values()];

async function readAlerts(d: Deployment, until: (alerts: AlertTransition[]) => boolean, timeoutMs = 30_000): Promise<AlertTransition[]> {
  return alertsOf(await readTopic(kafkaBrokers, `${d.prefix}.alerts`, (records) => until(alertsOf(records)), timeoutMs));
}

const count = (alerts: AlertTransition[], ruleId: string, transition: AlertTransition['transition']) => alerts.filter((a) => a.ruleId === ruleId && a.transition === transition).length;

/** One device id per partition. */
function devicesCoveringPartitions(tag: string): string[] {
  const byPartition = new Map<number, string>();
  for (let i = 0; byPartition.size < PARTITIONS; i++) {
    const id = `${tag}-${runId}-${i}`;
    if (!byPartition.has(partitionForKey(id, PARTITIONS))) byPartition.set(partitionForKey(id, PARTITIONS), id);
  }
  return [...byPartition.values()];
}

/** Every partition of the rules group's telemetry read and committed up to its end: processed, state written. */
async function rulesCaughtUp(d: Deployment): Promise<void> {
  const kafka = new Kafka({ clientId: 'rules-test-admin', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const groupId = consumerGroupId({ KAFKA_CLIENT_ID: 'sluice', KAFKA_TOPIC_PREFIX: d.prefix, KAFKA_RULES_GROUP: undefined }, 'rules');
    await waitUntil(
      async () => {
        const ends = await admin.fetchTopicOffsets(`${d.prefix}.telemetry`);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [`${d.prefix}.telemetry`] });
        const at = new Map(committed!.partitions.map((p) => [p.partition, p.offset]));
        return ends.every((e) => e.high === '0' || at.get(e.partition) === e.high) || undefined;
      },
      { timeoutMs: 30_000, what: 'the rules group to commit the telemetry it read' },
    );
  } finally {
    await admin.disconnect();
  }
}

describe('rules on the stream (real Kafka)', () => {
  it('raises and clears an alert on a live stream, tells the device, and calls the webhook exactly once per transition', async () => {
    const received: { body: AlertTransition; headers: IncomingHttpHeaders }[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ body: JSON.parse(body) as AlertTransition, headers: request.headers });
        response.writeHead(204).end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const id = `hot-${runId}`;
    const d = await deployment(
      'live',
      [id],
      `rules:
  - id: too-hot
    description: Temperature above 50 (clears below 40)
    severity: critical
    devices: { match: "hot-*" }
    condition: { type: threshold, metrics: [temperature], above: 50, clearAt: 40 }
    notify:
      device: true
      webhook: { url: "http://127.0.0.1:${port}/hook", secretHeader: { name: x-sluice-secret, value: s3cret } }
`,
    );
    const sluice = await start(d, 'gateway,bridge,writer,rules');
    const client = await device(sluice, d, id);
    const commands: AlertTransition[] = [];
    client.on('message', (_topic, payload) => commands.push(JSON.parse(payload.toString()) as AlertTransition));
    await client.subscribeAsync(`devices/${id}/commands/alerts`, { qos: 1 });

    await publish(client, id, 20);
    await publish(client, id, 60);
    await publish(client, id, 45);
    await publish(client, id, 30);
    const alerts = await readAlerts(d, (a) => count(a, 'too-hot', 'cleared') >= 1);
    expect(alerts.map((a) => [a.transition, a.seq, a.value])).toEqual([
      ['raised', 1, 60],
      ['cleared', 2, 30],
    ]);
    expect(new Set(alerts.map((a) => a.alertId)).size).toBe(1);
    expect(alerts[0]).toMatchObject({ ruleId: 'too-hot', deviceId: id, severity: 'critical', state: 'open', metric: 'temperature' });

    await expect.poll(() => commands.map((c) => c.transition), { timeout: 10_000 }).toEqual(['raised', 'cleared']);
    await expect.poll(() => received.map((r) => r.body.transition), { timeout: 10_000 }).toEqual(['raised', 'cleared']);
    expect(received.map((r) => r.headers['x-sluice-secret'])).toEqual(['s3cret', 's3cret']);
    expect(received.map((r) => r.headers['idempotency-key'])).toEqual([`${alerts[0]!.alertId}:1`, `${alerts[0]!.alertId}:2`]);
  });

  it('keeps an open alert and a window across a killed rules process: the next member neither loses nor repeats them', async () => {
    const id = `win-${runId}`;
    const d = await deployment(
      'restart',
      [id],
      `rules:
  - id: too-hot
    description: Temperature above 50
    severity: warning
    condition: { type: threshold, metrics: [temperature], above: 50, clearAt: 40 }
  - id: six-readings
    description: Six readings within ten minutes
    severity: info
    condition: { type: window, metric: temperature, aggregate: count, window: 10m, above: 5.5 }
`,
    );
    const gateway = await start(d, 'gateway,bridge');
    const client = await device(gateway, d, id);
    const first = await start(d, 'rules');
    for (const t of [60, 55, 55]) await publish(client, id, t);
    await readAlerts(d, (a) => count(a, 'too-hot', 'raised') >= 1);
    await rulesCaughtUp(d);
    await first.stop('SIGKILL');

    for (const t of [55, 55]) await publish(client, id, t);
    await start(d, 'rules');
    await publish(client, id, 55);
    // Six readings in the window only if the window kept the three read before the kill.
    await readAlerts(d, (a) => count(a, 'six-readings', 'raised') >= 1, 60_000);
    await publish(client, id, 30);
    const alerts = distinct(await readAlerts(d, (a) => count(a, 'too-hot', 'cleared') >= 1, 30_000));
    expect(count(alerts, 'too-hot', 'raised')).toBe(1);
    expect(count(alerts, 'too-hot', 'cleared')).toBe(1);
    const hot = alerts.filter((a) => a.ruleId === 'too-hot');
    expect(hot.map((a) => a.seq)).toEqual([1, 2]);
    expect(new Set(hot.map((a) => a.alertId)).size).toBe(1);
    expect(count(alerts, 'six-readings', 'raised')).toBe(1);
    expect(alerts.find((a) => a.ruleId === 'six-readings')!.value).toBe(6);
    // Three process starts, the killed member's 20 s session to expire before the group hands its partitions on, and
    // the waits above: more than the project's 60 s default on a loaded 2-core machine (seen at load average 10–13).
  }, 150_000);

  it('splits the partitions between two rules members, and every alert is raised once', async () => {
    const devices = devicesCoveringPartitions('split');
    const d = await deployment(
      'split',
      devices,
      `rules:
  - id: too-hot
    description: Temperature above 50
    severity: warning
    condition: { type: threshold, metrics: [temperature], above: 50 }
`,
    );
    const gateway = await start(d, 'gateway,bridge');
    const members = [await start(d, 'rules'), await start(d, 'rules')];
    const assigned = (member: SluiceProcess): number[] | undefined =>
      (member.logs.filter((l) => l.msg === 'rules partitions assigned').at(-1)?.partitions as number[] | undefined) ?? undefined;
    await expect
      .poll(() => members.map((m) => assigned(m)?.length ?? 0), { timeout: 60_000 })
      .toEqual([3, 3]);
    expect([...assigned(members[0]!)!, ...assigned(members[1]!)!].sort()).toEqual([0, 1, 2, 3, 4, 5]);

    for (const id of devices) await publish(await device(gateway, d, id), id, 70);
    const alerts = await readAlerts(d, (a) => new Set(a.map((x) => x.deviceId)).size === devices.length);
    expect(alerts.map((a) => a.deviceId).sort()).toEqual([...devices].sort());
    expect(alerts.every((a) => a.transition === 'raised' && a.seq === 1)).toBe(true);
  });
});
