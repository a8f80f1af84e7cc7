import { afterEach, describe, expect, inject, it } from 'vitest';
import mqtt from 'mqtt';
import { Kafka, logLevel, type Admin, type Consumer } from '../support/kafka.js';
import { loadConfig } from '../../core/config.js';
import { consumerGroupId } from '../../core/streams/connection.js';
import { createKafkaBus } from '../../core/streams/kafka.js';
import { createLogger } from '../../core/logger.js';
import { partitionForKey } from '../../core/murmur2.js';
import { startSluice, type Role, type RunningSluice } from '../../cli/start.js';
import { openRegistryAlone } from '../../cli/registry.js';
import { capturedLogger } from '../support/logs.js';
import { exportSeries } from '../support/store.js';
import { tempDataDir } from '../support/sluice-process.js';

const kafkaBrokers = inject('kafkaBrokers');
const influxUrl = inject('influxUrl');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const baseTs = Date.now() - 3_600_000;
const PARTITIONS = 6;

interface Deployment {
  prefix: string;
  running: RunningSluice;
  logs: Record<string, unknown>[];
  secrets: Record<string, string>;
  devices: string[];
}

const started: Deployment[] = [];
afterEach(async () => {
  for (const deployment of started.splice(0).reverse()) await deployment.running.close();
});

/** One device id per partition, so every partition of the telemetry topic carries readings. */
function devicesCoveringPartitions(tag: string): string[] {
  const byPartition = new Map<number, string>();
  for (let i = 0; byPartition.size < PARTITIONS; i++) {
    const id = `${tag}-${runId}-${i}`;
    const partition = partitionForKey(id, PARTITIONS);
    if (!byPartition.has(partition)) byPartition.set(partition, id);
  }
  return [...byPartition.values()];
}

/** A whole Sluice deployment (gateway, bridge, writer by default) in this process, as `sluice start` wires it. */
async function startDeployment(prefix: string, env: Record<string, string>, options: { roles?: Role[]; devices?: string[] } = {}): Promise<Deployment> {
  const dataDir = await tempDataDir();
  const devices = options.devices ?? [];
  const config = loadConfig({
    DATA_DIR: dataDir,
    KAFKA_BROKERS: kafkaBrokers,
    INFLUX_URL: influxUrl,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_PARTITIONS: String(PARTITIONS),
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_WS_PORT: '0',
    DASHBOARD_HOST: '127.0.0.1',
    DASHBOARD_PORT: '0',
    DASHBOARD_TOKEN: 'writer-group-token',
    BRIDGE_THREAD: 'false',
    WRITER_FLUSH_MS: '100',
    ...env,
  });
  const { logger, lines } = capturedLogger('info');
  const registry = await openRegistryAlone(config, logger);
  const secrets = Object.fromEntries((await registry.add(devices)).map(({ id, secret }) => [id, secret]));
  await registry.close();
  const running = await startSluice(config, new Set(options.roles ?? ['gateway', 'bridge', 'writer']), logger);
  const deployment = { prefix, running, logs: lines, secrets, devices };
  started.push(deployment);
  return deployment;
}

/** Publishes `count` readings per device with QoS 1 and returns the sequence numbers the gateway acknowledged. */
async function publishAcknowledged(deployment: Deployment, metric: string, count: number): Promise<number[]> {
  const acked: number[] = [];
  let seq = 0;
  await Promise.all(
    deployment.devices.map(async (deviceId) => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${deployment.running.mqttPort}`, {
        username: deviceId,
        password: deployment.secrets[deviceId]!,
        clientId: deviceId,
        reconnectPeriod: 0,
      });
      try {
        for (let i = 0; i < count; i++) {
          const n = seq++;
          // Device time per reading, so every reading is its own point (series and timestamp).
          await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ [metric]: n, ts: baseTs + n }), { qos: 1 });
          acked.push(n);
        }
      } finally {
        await client.endAsync();
      }
    }),
  );
  return acked.sort((a, b) => a - b);
}

async function storedValues(metric: string, devicePattern: string): Promise<number[]> {
  const series = await exportSeries(influxUrl, `${metric}_value{device=~"${devicePattern}"}`);
  return [...new Set(series.flatMap((s) => s.values))].sort((a, b) => a - b);
}

async function readyz(deployment: Deployment): Promise<{ status: number; body: { status: string; checks: Record<string, boolean>; notes?: Record<string, string> } }> {
  const response = await fetch(`http://127.0.0.1:${deployment.running.dashboardPort}/readyz`);
  return { status: response.status, body: (await response.json()) as never };
}

async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ clientId: `assert-${runId}`, brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Members of the stable consumer groups whose id starts with `idPrefix`, whatever the groups are named, except
 * the throwaway groups of group-less readers (`{client id}-reader-…`: the gateway's reader of alerts for devices).
 */
async function stableMembers(idPrefix: string): Promise<number> {
  return withAdmin(async (admin) => {
    const ids = (await admin.listGroups()).groups.map((g) => g.groupId).filter((id) => id.startsWith(idPrefix) && !id.startsWith(`${idPrefix}-reader-`));
    if (ids.length === 0) return 0;
    const { groups } = await admin.describeGroups(ids);
    return groups.every((g) => g.state === 'Stable') ? groups.reduce((n, g) => n + g.members.length, 0) : 0;
  });
}

describe('writer consumer group per deployment', () => {
  it('two deployments with different topic prefixes and the same client id on one Kafka both store every acknowledged reading', async () => {
    const clientId = `wgshared-${runId}`;
    const first = await startDeployment(`wga${runId}`, { KAFKA_CLIENT_ID: clientId }, { devices: devicesCoveringPartitions('wga') });
    const second = await startDeployment(`wgb${runId}`, { KAFKA_CLIENT_ID: clientId }, { devices: devicesCoveringPartitions('wgb') });
    // Both writers have joined (one group each, or, as before, one shared group with two members).
    await expect.poll(() => stableMembers(clientId), { timeout: 30_000, interval: 500 }).toBe(2);

    const [ackedFirst, ackedSecond] = await Promise.all([publishAcknowledged(first, 'wga', 20), publishAcknowledged(second, 'wgb', 20)]);
    expect(ackedFirst).toHaveLength(PARTITIONS * 20);
    expect(ackedSecond).toHaveLength(PARTITIONS * 20);
    await expect.poll(() => storedValues('wga', `wga-${runId}-.*`), { timeout: 30_000, interval: 500 }).toEqual(ackedFirst);
    await expect.poll(() => storedValues('wgb', `wgb-${runId}-.*`), { timeout: 30_000, interval: 500 }).toEqual(ackedSecond);

    for (const deployment of [first, second]) {
      const { status, body } = await readyz(deployment);
      expect(status).toBe(200);
      expect(body.checks['writer-group']).toBe(true);
    }
    await withAdmin(async (admin) => {
      const { groups } = await admin.describeGroups([`${clientId}-wga${runId}-writer`, `${clientId}-wgb${runId}-writer`]);
      expect(groups.map((g) => g.members.length)).toEqual([1, 1]);
    });
  });

  it('after the upgrade from the group without the prefix, the new group starts at the earliest record: nothing is skipped', async () => {
    const prefix = `wgu${runId}`;
    const clientId = `wgu-${runId}`;
    const devices = devicesCoveringPartitions('wgu');
    // Before: the group as earlier versions named it, storing and committing part of the stream.
    const before = await startDeployment(prefix, { KAFKA_CLIENT_ID: clientId, KAFKA_WRITER_GROUP: `${clientId}-writer` }, { devices });
    const early = await publishAcknowledged(before, 'wgu', 5);
    await expect.poll(() => storedValues('wgu', `wgu-${runId}-.*`), { timeout: 30_000, interval: 500 }).toEqual(early);
    await withAdmin(async (admin) => {
      const committed = async () => (await admin.fetchOffsets({ groupId: `${clientId}-writer`, topics: [`${prefix}.telemetry`] }))[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      await expect.poll(committed, { timeout: 10_000, interval: 200 }).toBe(early.length);
    });
    await started.pop()!.running.close();
    // While no writer runs, readings keep arriving (the gateway is upgraded first, say).
    const gateway = await startDeployment(prefix, { KAFKA_CLIENT_ID: clientId }, { roles: ['gateway', 'bridge'], devices });
    const late = await publishAcknowledged(gateway, 'wgulate', 5);
    await started.pop()!.running.close();

    // After: the default group has no offsets, so it reads everything Kafka holds, the old group's share again.
    await startDeployment(prefix, { KAFKA_CLIENT_ID: clientId }, { roles: ['writer'] });
    await withAdmin(async (admin) => {
      const committed = async () =>
        (await admin.fetchOffsets({ groupId: consumerGroupId({ KAFKA_CLIENT_ID: clientId, KAFKA_TOPIC_PREFIX: prefix }, 'writer'), topics: [`${prefix}.telemetry`] }))[0]!.partitions.reduce(
          (n, p) => n + Math.max(0, Number(p.offset)),
          0,
        );
      await expect.poll(committed, { timeout: 30_000, interval: 200 }).toBe(early.length + late.length);
    });
    expect(await storedValues('wgulate', `wgu-${runId}-.*`)).toEqual(late);
    expect(await storedValues('wgu', `wgu-${runId}-.*`)).toEqual(early);
  });

  it('honours KAFKA_WRITER_GROUP: the writer (on its own thread) reads, stores and commits in that group', async () => {
    const prefix = `wgo${runId}`;
    const groupId = `wgoverride-${runId}`;
    const clientId = `wgo-${runId}`;
    const deployment = await startDeployment(prefix, { KAFKA_CLIENT_ID: clientId, KAFKA_WRITER_GROUP: groupId, WRITER_THREAD: 'true' }, { devices: devicesCoveringPartitions('wgo') });
    expect(consumerGroupId(loadConfig({ KAFKA_CLIENT_ID: clientId, KAFKA_TOPIC_PREFIX: prefix, KAFKA_WRITER_GROUP: groupId }), 'writer')).toBe(groupId);
    await expect.poll(async () => (await readyz(deployment)).status, { timeout: 30_000, interval: 200 }).toBe(200);
    expect((await readyz(deployment)).body.checks['writer-group']).toBe(true);

    const acked = await publishAcknowledged(deployment, 'wgo', 5);
    await expect.poll(() => storedValues('wgo', `wgo-${runId}-.*`), { timeout: 30_000, interval: 500 }).toEqual(acked);
    await withAdmin(async (admin) => {
      const group = (await admin.describeGroups([groupId])).groups[0]!;
      expect(group.members.map((m) => m.clientId)).toEqual([clientId]);
      const committed = async () =>
        (await admin.fetchOffsets({ groupId, topics: [`${prefix}.telemetry`] }))[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      await expect.poll(committed, { timeout: 10_000, interval: 200 }).toBe(acked.length);
      expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(`${clientId}-${prefix}-writer`);
    });
  });

  // Either the writer leads the group (it hands half its partitions to the foreign member, which drops them) or the
  // foreign member does (it hands the writer only its own topic's partitions, which the writer drops).
  it.each([
    { joins: 'after', tag: 'a' },
    { joins: 'before', tag: 'b' },
  ])('a writer whose group is shared with a member subscribed to other topics (that joins $joins the writer) is not ready, says why, and is ready again once that member leaves', async ({ joins, tag }) => {
    const prefix = `wgs${tag}${runId}`;
    const foreignPrefix = `wgf${tag}${runId}`;
    const groupId = `wgsharedgroup-${tag}-${runId}`;
    // Another deployment's consumer with the same group id, subscribed to its own topic.
    const foreignBus = createKafkaBus({ brokers: kafkaBrokers.split(','), clientId: 'wg-foreign', topicPrefix: foreignPrefix, partitions: PARTITIONS, replicationFactor: 1, logger: createLogger('silent') });
    await foreignBus.ensureStreams();
    await foreignBus.close();
    const foreign: Consumer = new Kafka({ clientId: 'wg-foreign', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING }).consumer({ groupId });
    const joinForeign = async () => {
      await foreign.connect();
      await foreign.subscribe({ topics: [`${foreignPrefix}.telemetry`] });
      await foreign.run({ eachMessage: async () => undefined });
    };
    try {
      if (joins === 'before') await joinForeign();
      const deployment = await startDeployment(prefix, { KAFKA_CLIENT_ID: `wgs-${runId}`, KAFKA_WRITER_GROUP: groupId }, { roles: ['writer'] });
      if (joins === 'after') {
        await expect.poll(async () => (await readyz(deployment)).status, { timeout: 30_000, interval: 200 }).toBe(200);
        await joinForeign();
      }

      await expect.poll(async () => (await readyz(deployment)).status, { timeout: 30_000, interval: 200 }).toBe(503);
      const { body } = await readyz(deployment);
      expect(body.status).toBe('not-ready');
      expect(body.checks).toMatchObject({ kafka: true, store: true, writer: true, 'writer-group': false });
      expect(body.notes?.['writer-group']).toContain(`writer group ${groupId} is shared with consumers of other topics (${foreignPrefix}.telemetry)`);
      expect(body.notes?.['writer-group']).toMatch(new RegExp(`partitions? [0-9, ]+ of ${prefix}\\.telemetry (is|are) read by no one`));
      const warning = deployment.logs.find((l) => l.level === 40 && String(l.msg).startsWith(`not ready: writer group ${groupId} is shared`));
      expect(warning).toMatchObject({ module: 'writer', groupId, foreignTopics: [`${foreignPrefix}.telemetry`] });

      await foreign.disconnect();
      await expect.poll(async () => (await readyz(deployment)).status, { timeout: 30_000, interval: 200 }).toBe(200);
      expect(deployment.logs.some((l) => l.msg === `writer group ${groupId} reads every partition again`)).toBe(true);
    } finally {
      await foreign.disconnect();
    }
  });

  it('a writer member beyond the partition count stands by: ready, with a note saying so', async () => {
    const prefix = `wgp${runId}`;
    const env = { KAFKA_CLIENT_ID: `wgp-${runId}`, KAFKA_PARTITIONS: '1' };
    const members = [await startDeployment(prefix, env, { roles: ['writer'] }), await startDeployment(prefix, env, { roles: ['writer'] })];
    const note = async () => {
      const answers = await Promise.all(members.map(readyz));
      return answers.every((a) => a.status === 200) ? answers.map((a) => a.body.notes?.['writer-group']).find((n) => n !== undefined) : undefined;
    };
    await expect.poll(note, { timeout: 30_000, interval: 200 }).toBe(
      `writer group ${consumerGroupId({ KAFKA_CLIENT_ID: env.KAFKA_CLIENT_ID, KAFKA_TOPIC_PREFIX: prefix }, 'writer')} has no partitions for this member: its 2 members share the 1 partition (${prefix}.telemetry has 1), so it stands by and takes over when a member leaves`,
    );
    expect(members.flatMap((m) => m.logs).some((l) => l.level === 40 && l.module === 'writer')).toBe(false);
  });
});
