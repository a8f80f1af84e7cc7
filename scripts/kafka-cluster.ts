import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from '../core/streams/kafkajs.js';
import { kafkaJars } from './services.js';
import { freePort } from './ports.js';

const execFileAsync = promisify(execFile);

export interface PrivateKafka {
  brokers: string;
  brokerList: string[];
  /** Where the nodes keep their data and `server.log`. */
  dir: string;
  /** Stops broker `index` (SIGTERM: a controlled shutdown, as a restart would). */
  stop(index?: number): Promise<void>;
  /** Kills broker `index` (SIGKILL: a crash, no controlled shutdown). */
  kill(index?: number): Promise<void>;
  /** Starts broker `index` again with its data, and waits until the whole cluster answers. */
  start(index?: number): Promise<void>;
  /** Whether broker `index` runs (was not stopped or killed). */
  running(index: number): boolean;
  /** Index of the broker that leads the most partitions of `topic` (ties: the lowest index). */
  topLeader(topic: string): Promise<number>;
  /** Partition → index of its leading broker (-1 while it has none). */
  leaders(topic: string): Promise<Map<number, number>>;
  destroy(): Promise<void>;
}

/**
 * A Kafka cluster of its own (1 or 3 KRaft nodes, each broker and controller) for tests and `sluice bench
 * --kafka-nodes 3`, which stop and kill brokers: a shared broker must stay up for everyone else. Same jars as
 * scripts/services.ts.
 */
export async function startPrivateKafka(options: { nodes: 1 | 3 } = { nodes: 1 }): Promise<PrivateKafka> {
  const libs = await kafkaJars({ log: () => undefined });
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-'));
  const clusterId = randomBytes(16).toString('base64url').replace(/^-/, 'A');
  const nodes = await Promise.all(
    Array.from({ length: options.nodes }, async (_, i) => ({ id: i + 1, port: await freePort(), controllerPort: await freePort(), dir: join(dir, `node${i + 1}`) })),
  );
  const voters = nodes.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',');
  const replication = Math.min(3, options.nodes);
  const java = (node: (typeof nodes)[number], mainClass: string, ...args: string[]) => [
    '-Xmx384m',
    '-Xms128m',
    '-XX:+UseG1GC',
    '-XX:TieredStopAtLevel=1',
    '-Dlog4j2.shutdownHookEnabled=false',
    `-Dlog4j2.configurationFile=${join(node.dir, 'log4j2.properties')}`,
    '-cp',
    join(libs, '*'),
    mainClass,
    ...args,
  ];
  for (const node of nodes) {
    await execFileAsync('mkdir', ['-p', node.dir]);
    await writeFile(
      join(node.dir, 'server.properties'),
      [
        'process.roles=broker,controller',
        `node.id=${node.id}`,
        `controller.quorum.voters=${voters}`,
        `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        `log.dirs=${join(node.dir, 'data')}`,
        'auto.create.topics.enable=false',
        `offsets.topic.replication.factor=${replication}`,
        'offsets.topic.num.partitions=1',
        `transaction.state.log.replication.factor=${replication}`,
        `transaction.state.log.min.isr=${Math.max(1, replication - 1)}`,
        `share.coordinator.state.topic.replication.factor=${replication}`,
        `share.coordinator.state.topic.min.isr=${Math.max(1, replication - 1)}`,
        'group.initial.rebalance.delay.ms=0',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(node.dir, 'log4j2.properties'),
      ['status = warn', 'appender.file.type = File', 'appender.file.name = file', `appender.file.fileName = ${join(node.dir, 'server.log')}`, 'appender.file.layout.type = PatternLayout', 'appender.file.layout.pattern = [%d] %p %m (%c)%n', 'rootLogger.level = warn', 'rootLogger.appenderRef.file.ref = file', ''].join('\n'),
    );
    await execFileAsync('java', java(node, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', join(node.dir, 'server.properties')));
  }

  const processes = new Map<number, ChildProcess>();
  const brokerList = nodes.map((n) => `127.0.0.1:${n.port}`);

  function launch(index: number): void {
    const node = nodes[index]!;
    processes.set(index, spawn('java', java(node, 'kafka.Kafka', join(node.dir, 'server.properties')), { stdio: 'ignore', cwd: node.dir }));
  }

  async function waitUntilAnswers(brokers: string[], minBrokers: number): Promise<void> {
    await pollUntil(
      async () => {
        const admin = new Kafka({ clientId: 'private-kafka', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } }).admin();
        try {
          await admin.connect();
          return (await admin.describeCluster()).brokers.length >= minBrokers || undefined;
        } catch {
          return undefined; // not up yet
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      { timeoutMs: 90_000, intervalMs: 250, what: `private kafka (${brokers.join(',')}) did not answer; logs in ${dir}` },
    );
  }

  for (let i = 0; i < nodes.length; i++) launch(i);
  await waitUntilAnswers(brokerList, nodes.length);

  async function end(index: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = processes.get(index);
    processes.delete(index);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  async function leaders(topic: string): Promise<Map<number, number>> {
    const live = brokerList.filter((_, i) => processes.has(i));
    const admin = new Kafka({ clientId: 'private-kafka', brokers: live, logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 3 } }).admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = metadata.topics[0]?.partitions ?? [];
      return new Map(partitions.map((p) => [p.partitionId, nodes.findIndex((n) => n.id === p.leader)]));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  return {
    brokers: brokerList.join(','),
    brokerList,
    dir,
    stop: (index = 0) => end(index, 'SIGTERM'),
    kill: (index = 0) => end(index, 'SIGKILL'),
    async start(index = 0) {
      launch(index);
      await waitUntilAnswers([brokerList[index]!], nodes.length);
    },
    running: (index) => processes.has(index),
    leaders,
    async topLeader(topic) {
      const led = new Array<number>(nodes.length).fill(0);
      for (const leader of (await leaders(topic)).values()) if (leader >= 0) led[leader]!++;
      return led.indexOf(Math.max(...led));
    },
    async destroy() {
      for (const index of [...processes.keys()]) await end(index, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function pollUntil(probe: () => Promise<true | undefined>, options: { timeoutMs: number; intervalMs: number; what: string }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
  throw new Error(`${options.what} within ${options.timeoutMs} ms`);
}
