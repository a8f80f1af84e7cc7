/**
 * `sluice bench`: starts its own Sluice (a child process, so its memory is its own) against the given Kafka,
 * with its own VictoriaMetrics (no dedup: double writes stay visible) unless a store URL is given, drives it
 * with the load of ./load.ts and measures everything from outside: acknowledgements on the MQTT side, the live
 * push as a socket.io client, and the store by reading it back.
 *
 * With `--kafka-nodes` it starts a Kafka cluster of its own (and destroys it afterwards, on errors and Ctrl-C
 * too), and with `--fault` it stops, kills and restarts brokers, the store, the writer or the gateway during the
 * load (./faults.ts, ./fault-runner.ts) and reports what each did to ingest (./recovery.ts).
 *
 * With `--gateways N` (N > 1) it runs N gateway+bridge processes behind a TCP balancer of its own
 * (scripts/tcp-balancer.ts, least connections), as a deployment runs them behind a load balancer; the devices connect
 * to the balancer, and a gateway fault hits one of the gateways while the others take its devices.
 *
 * With `--sink NAME` it starts that forward sink's private server (scripts/sinks/NAME.ts), runs the forwarder role
 * against it, reads the server during the load and reports what arrived there (./sinks.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { cpus, freemem, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegistryAlone } from '../cli/registry.js';
import { createLogger } from '../core/logger.js';
import { loadConfig } from '../core/config.js';
import { kafkaConnectionFrom } from '../core/streams/connection.js';
import { benchRulesYaml, RULES_PROBE_DEVICE, startRulesProbe } from './rules.js';
import { connectLean, type LeanClient } from '../simulators/lean-mqtt.js';
import { account, ackedFromRows } from './accounting.js';
import { runLoad, type LoadProgress, type LoadResult } from './load.js';
import type { DeviceCounts } from './load-worker.js';
import { describeStages, scrapeStages, type Stages } from './stages.js';
import { describeCpu, startCpuWindow, type CpuProbe, type CpuReport } from './cpu.js';
import { startSluiceRole, startVictoriaMetrics, type BenchStore, type SluiceRole } from './processes.js';
import type { FaultSpec } from './faults.js';
import { scheduleFaults, type AppliedFault, type FaultSchedule } from './fault-runner.js';
import { describeFault, reportFault, type FaultReport } from './fault-report.js';
import { rebucket } from './recovery.js';
import type { PrivateKafka } from '../scripts/kafka-cluster.js';
import { startTcpBalancer, type TcpBalancer, type UpstreamCounts } from '../scripts/tcp-balancer.js';
import { countPoints } from './store.js';
import { benchDeviceId } from './payload.js';
import { connectLive, LATENCY_SAMPLE_DEVICES, sampleStoreLatency, storedValues, type LiveMeter, type StoreSampler } from './meters.js';
import { kafkaBaseline, mosquittoBaseline, type KafkaBaseline, type MosquittoBaseline } from './baselines.js';
import { describeSinkWrites, meterSink, startSinkServer, type SinkFigures, type SinkMeter } from './sinks.js';
import type { ForwardSinkName } from '../core/seams.js';
import type { PrivateSinkServer } from '../scripts/sinks/types.js';
import type { BenchLog } from './log.js';

export type { FaultReport };

export type BaselineName = 'mosquitto' | 'kafka';

export interface BenchOptions {
  devices: number;
  rate: number;
  durationS: number;
  qos: 0 | 1;
  payloadBytes: number;
  workers: number;
  /** Someone else's Kafka; ignored with `kafkaNodes`. */
  kafkaBrokers: string[];
  /** Start a Kafka cluster of the bench's own with this many nodes (replication factor min(3, nodes)). */
  kafkaNodes?: 1 | 3;
  /** Applied during the load; broker faults need `kafkaNodes`, store-down the bench's own store. */
  faults?: FaultSpec[];
  /** Aborting stops the run and everything it started. */
  signal?: AbortSignal;
  /** Use this store instead of starting one (duplicates may then be hidden by its dedup). */
  influxUrl?: string;
  baselines: BaselineName[];
  partitions: number;
  /** Extra idle connections opened after the load, to measure the gateway's memory per connection. */
  idleDevices: number;
  maxInflightPerDevice: number;
  /** Longest reconnect backoff of a device after a dropped connection (starts at 250 ms, doubles); default 5,000 ms. */
  maxReconnectMs?: number;
  /** Extra node flags for the Sluice child, e.g. --cpu-prof. */
  sluiceNodeArgs: string[];
  sluiceEnv: Record<string, string>;
  /** Gateway+bridge, writer and dashboard as three processes (as in production) instead of one. */
  splitRoles?: boolean;
  /**
   * Gateway+bridge processes (default 1). More than one runs the roles split (as `splitRoles`), with the bench's TCP
   * balancer in front of the gateways; the devices connect to it.
   */
  gateways?: number;
  /** Ten rules active (bench/rules.ts), the rules role in a process of its own: its CPU and alert latency are reported. */
  rules?: boolean;
  storeWaitS: number;
  /**
   * Forward sinks to run (docs/contracts.md §16): each one's private server, the forwarder role pointed at it (in the
   * Sluice process, or a forwarder process of its own when the roles are split), and what arrived there measured.
   */
  sinks?: ForwardSinkName[];
  /** Longest wait after the load for the sinks to hold every acknowledged reading (default 120 s). */
  sinkWaitS?: number;
  /** The first seconds of load (JIT, first Kafka requests) are counted but left out of the latency percentiles. */
  warmupS: number;
}

/** Besides these, what the devices counted (errors, throttled, disconnects, reconnects, resends): DeviceCounts. */
export interface BenchReport extends Omit<DeviceCounts, 'sent' | 'acked'> {
  devices: number;
  qos: number;
  durationS: number;
  sent: number;
  acked: number;
  stored: number;
  pushedLive: number | null;
  lost: number;
  duplicatesStored: number;
  /** Duplicates at another timestamp: the ones InfluxDB would keep as well (null: unknown). */
  duplicatesKept: number | null;
  ingestPerSec: number;
  latencyMs: { ackP50: number; ackP99: number; livePushP50: number | null; livePushP99: number | null; storedP50: number | null; storedP99: number | null };
  /** The gateway process's RSS after the load; with several gateways, the largest of theirs (each is in `perGateway`). */
  gatewayRssMiB: number | null;
  // Beyond the first figures every bench reports (each field: docs/contracts.md §13):
  /** Gateway+bridge processes; with more than one, the devices reached them through the bench's TCP balancer. */
  gateways: number;
  /** With more than one gateway: each one's share of the connections and what it cost. */
  perGateway?: GatewayFigures[];
  offeredPerSec: number;
  ratePerDevice: number;
  payloadBytes: number;
  connected: number;
  /** Sent (QoS 1) but never acknowledged by the end of the drain. */
  unacked: number;
  /** Nodes of the bench's own Kafka cluster; null: someone else's Kafka. */
  kafkaNodes: number | null;
  /** The longest recovery of the faults; null without faults, or when one was not back before the load ended. */
  recoveryS: number | null;
  faults: FaultReport[];
  /** Per second from the start of the load: messages offered (fell due), acknowledged, connections dropped, reconnects. */
  timeline: { bucketS: number; offered: number[]; acked: number[]; disconnects: number[]; reconnects: number[] };
  storedNotAcked: number;
  ackMaxMs: number;
  gatewayRssPeakMiB: number | null;
  stages?: Stages;
  cpu?: CpuReport;
  idle?: { devices: number; connected: number; gatewayRssMiB: number | null; rssBeforeMiB: number | null };
  /** With `--rules`: alert transitions timed (probe reading published → on the alerts topic) and the rules process's CPU per message. */
  rules?: { rules: number; transitions: number; latencyMs: { p50: number | null; p99: number | null }; cpuUsPerMessage: number | null };
  /** With `--sink`: per forward sink, what arrived at its server (./sinks.ts). */
  sinks?: SinkFigures[];
  baselines: { mosquitto?: MosquittoBaseline; kafka?: KafkaBaseline };
  ratios: { vsMosquitto?: number; vsKafka?: number };
  store: string;
  notes: string[];
  machine: { cpus: number; cpuModel: string; memTotalGiB: number; memFreeGiB: number; node: string };
  startedAt: string;
}

/** One gateway process of several (--gateways): its share of the devices, its memory and its CPU. */
export interface GatewayFigures {
  index: number;
  /** Device connections the balancer had open to it when the load began. */
  connectedAtStart: number;
  /** Device connections the balancer handed it over the run, reconnects included. */
  connections: number;
  /** Connects to it that failed (while it was down); the balancer handed each to another gateway. */
  failedConnects: number;
  rssMiB: number | null;
  rssPeakMiB: number | null;
  /** Its CPU over the load per acknowledged message of the whole load (the gateways' figures add up), as in `cpu`. */
  cpuPerMessageUs: number | null;
  restarts: number;
}

const MiB = 1024 * 1024;
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;
/** Bytes as MiB (one decimal); null when not measured. */
const mib = (bytes: number | undefined): number | null => (bytes === undefined || bytes <= 0 ? null : round(bytes / MiB));

/** What a run started, ended in order once (also when the run fails or is interrupted). */
class Cleanups {
  private readonly steps: (() => Promise<void>)[] = [];
  private ran?: Promise<void>;
  constructor(private readonly log: BenchLog) {}
  /** Runs before everything registered so far (a later start is stopped first). */
  first(step: () => Promise<void>): void {
    this.steps.unshift(step);
  }
  /** Runs after everything registered so far (for what the rest depends on: the store, Kafka). */
  last(step: () => Promise<void>): void {
    this.steps.push(step);
  }
  run(): Promise<void> {
    this.ran ??= (async () => {
      for (const step of this.steps.splice(0)) await step().catch((error: unknown) => this.log('a clean-up step failed; going on with the next', { err: error }));
    })();
    return this.ran;
  }
}

export async function runBench(options: BenchOptions, log: BenchLog, onProgress?: (p: LoadProgress & { phase: string }) => void): Promise<BenchReport> {
  const cleanups = new Cleanups(log);
  const signal = options.signal;
  const interrupted = new Promise<never>((_, reject) => {
    const stop = (): void => reject(new Error('interrupted: stopped everything the bench started'));
    if (signal?.aborted) stop();
    signal?.addEventListener('abort', stop, { once: true });
  });
  try {
    return await Promise.race([measure(options, cleanups, log, onProgress), interrupted]);
  } finally {
    await cleanups.run();
  }
}

/**
 * One run, as a pipeline of phases: each takes what the earlier ones made, registers what it starts with
 * `cleanups`, and adds its notes to the run's (the report keeps them in this order).
 */
async function measure(options: BenchOptions, cleanups: Cleanups, log: BenchLog, onProgress?: (p: LoadProgress & { phase: string }) => void): Promise<BenchReport> {
  const run = planRun(options);
  const backends = await startBackends(options, run, cleanups, log);
  const devices = await registerDevices(options, run, backends, cleanups);
  const processes = await startProcesses(options, run, backends, devices, cleanups, log);
  const meters = await startMeters(options, run, backends, devices, processes, cleanups, log);
  const loaded = await driveLoad(options, run, backends, devices, processes, meters, cleanups, log, onProgress);
  const storeWaited = waitForStore(options, run, backends, loaded, meters, log);
  // The sinks drain while the store is waited for; their wait has a deadline of its own.
  const sinksDrained = waitForSinks(options, run, meters, loaded, log);
  const storeDeadline = await storeWaited;
  const accounting = await accountStored(run, backends, loaded, storeDeadline);
  const sinks = await sinksDrained;
  const idle = await measureIdle(options, devices, processes, log);
  const finished = await stopProcesses(run, processes, meters);
  const report = buildReport(options, run, backends, processes, meters, loaded, accounting, idle, finished, log, sinks);
  await runBaselines(options, run, backends, report, log);
  return report;
}

/** The run itself: its id (topics, the store's series), the messages each device sends, and its notes. */
interface RunPlan {
  runId: string;
  /** Topic prefix of the Sluice under test. */
  prefix: string;
  messagesPerDevice: number;
  warmupMs: number;
  startedAt: string;
  faults: FaultSpec[];
  /** The report's notes, in the order the phases add them. */
  notes: string[];
}

function planRun(options: BenchOptions): RunPlan {
  const runId = randomBytes(4).toString('hex');
  return {
    runId,
    prefix: `bench${runId}`,
    messagesPerDevice: Math.floor(options.rate * options.durationS),
    warmupMs: Math.round(options.warmupS * 1000),
    startedAt: new Date().toISOString(),
    faults: options.faults ?? [],
    notes: [],
  };
}

/** Kafka and the store: someone else's, or the bench's own (then a fault can stop them). */
interface Backends {
  kafkaBrokers: string[];
  cluster?: PrivateKafka;
  storeUrl: string;
  store?: BenchStore;
  /** With --sink: each sink's private server, in the order asked. */
  sinkServers: PrivateSinkServer[];
}

async function startBackends(options: BenchOptions, run: RunPlan, cleanups: Cleanups, log: BenchLog): Promise<Backends> {
  const { notes } = run;
  let kafkaBrokers = options.kafkaBrokers;
  let cluster: PrivateKafka | undefined;
  if (options.kafkaNodes) {
    log(`starting a Kafka cluster of the bench's own: ${options.kafkaNodes} node${options.kafkaNodes === 1 ? '' : 's'}`);
    const { startPrivateKafka } = await import('../scripts/kafka-cluster.js');
    const starting = startPrivateKafka({ nodes: options.kafkaNodes });
    // Registered before it is up, so an interrupt during start-up still destroys it.
    cleanups.last(async () => {
      const started = await starting.catch(() => undefined);
      if (started) {
        log('destroying the bench\'s Kafka cluster');
        await started.destroy();
      }
    });
    cluster = await starting;
    kafkaBrokers = cluster.brokerList;
    log(`Kafka cluster up: ${cluster.brokers} (logs in ${cluster.dir})`);
    notes.push(`Kafka: the bench's own cluster of ${options.kafkaNodes} node${options.kafkaNodes === 1 ? '' : 's'}, replication factor ${Math.min(3, options.kafkaNodes)}${options.kafkaNodes >= 3 ? ', min.insync.replicas 2' : ''}`);
  }

  let storeUrl = options.influxUrl;
  let store: BenchStore | undefined;
  if (!storeUrl) {
    const vm = await startVictoriaMetrics();
    store = vm;
    cleanups.last(vm.stop);
    storeUrl = vm.url;
    notes.push('store: the bench\'s own VictoriaMetrics without -dedup.minScrapeInterval, so a point written twice is counted twice');
  } else {
    notes.push(`store: ${storeUrl} (given); if it deduplicates, duplicatesStored cannot see double writes`);
  }
  const sinkServers = await startSinkServers(options, run, cleanups, log);
  return { kafkaBrokers, ...(cluster ? { cluster } : {}), storeUrl, ...(store ? { store } : {}), sinkServers };
}

/** With --sink: each sink's private server, its target named after the run's prefix; closed at the end of the run. */
async function startSinkServers(options: BenchOptions, run: RunPlan, cleanups: Cleanups, log: BenchLog): Promise<PrivateSinkServer[]> {
  const servers: PrivateSinkServer[] = [];
  for (const sink of options.sinks ?? []) {
    log(`starting a ${sink} server of the bench's own (scripts/sinks/${sink}.ts)`);
    const starting = startSinkServer(sink, { topicPrefix: run.prefix, log: (line) => log(`${sink}: ${line}`) });
    // Registered before it is up, so an interrupt during start-up still closes it; after Sluice has stopped.
    cleanups.last(async () => {
      const started = await starting.catch(() => undefined);
      if (started) {
        log(`closing the bench's ${sink} server`);
        await started.close();
      }
    });
    servers.push(await starting);
    run.notes.push(`sink ${sink}: a server of the bench's own (scripts/sinks/${sink}.ts), target ${run.prefix}.telemetry, read by the bench from its beginning during the load`);
  }
  return servers;
}

/** The devices (load and idle ones, and with --rules the probe) in a device registry of the run's own, one secret for all. */
interface RegisteredDevices {
  dataDir: string;
  /** Load devices first, then the idle ones. */
  ids: string[];
  secret: string;
  /** The rules file (written only with --rules). */
  rulesFile: string;
}

async function registerDevices(options: BenchOptions, run: RunPlan, backends: Backends, cleanups: Cleanups): Promise<RegisteredDevices> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-bench-data-'));
  cleanups.last(() => rm(dataDir, { recursive: true, force: true }));
  // The registry the processes under test will read: {prefix}.devices in the bench's Kafka.
  const config = loadConfig({ KAFKA_BROKERS: backends.kafkaBrokers.join(','), INFLUX_URL: backends.storeUrl, KAFKA_TOPIC_PREFIX: run.prefix, KAFKA_CLIENT_ID: `sluice-${run.prefix}`, DATA_DIR: dataDir });
  const registry = await openRegistryAlone(config, createLogger('warn', { destination: process.stderr }));
  try {
    const secret = randomBytes(18).toString('base64url');
    const ids = Array.from({ length: options.devices + options.idleDevices }, (_, i) => benchDeviceId(i));
    // One generated secret for every bench device: a bench is not a security test, and the load generator needs one.
    await registry.add(options.rules ? [...ids, RULES_PROBE_DEVICE] : ids, { secret: { value: secret, origin: 'generated' } });
    const rulesFile = join(dataDir, 'bench-rules.yaml');
    if (options.rules) await writeFile(rulesFile, benchRulesYaml());
    return { dataDir, ids, secret, rulesFile };
  } finally {
    await registry.close();
  }
}

/** The Sluice processes under test: the measured one (all roles, or gateway+bridge), and those beside it. */
interface SluiceProcesses {
  /** The dashboard's token, for the live meter and the stage scrape. */
  token: string;
  /** The measured process: the one Sluice process, or the first gateway (+bridge). */
  sluice: SluiceRole;
  /** Every gateway (+bridge) process, `sluice` first; one without --gateways. */
  gateways: SluiceRole[];
  /** With several gateways: the TCP balancer in front of them. */
  balancer?: TcpBalancer;
  /** Where the devices connect: the balancer, or the one gateway. */
  edgePort: number;
  /** With --split-roles: the writer, then the dashboard, then (with --sink) the forwarder: see HELPER_NAMES. */
  helpers: SluiceRole[];
  rulesRole?: SluiceRole;
  rulesProbe?: RulesProbe;
  dashboardPort: number;
  /** Each gateway process's highest RSS so far (sampled every second), in bytes. */
  rssPeaks(): number[];
}

/** The processes beside the gateways when the roles are split, in `helpers` order, as the CPU figures name them. */
const HELPER_NAMES = ['writer', 'dashboard', 'forwarder'] as const;

const gatewayCount = (options: BenchOptions): number => Math.max(1, options.gateways ?? 1);
/** Roles split into processes: asked for, or implied by several gateways. */
const rolesSplit = (options: BenchOptions): boolean => options.splitRoles === true || gatewayCount(options) > 1;
/** A gateway process's name in the CPU figures: `sluice` (all roles), `gateway+bridge`, or `gateway+bridge#i` of several. */
const gatewayProcessName = (options: BenchOptions, index: number): string =>
  gatewayCount(options) > 1 ? `gateway+bridge#${index}` : rolesSplit(options) ? 'gateway+bridge' : 'sluice';

type RulesProbe = Awaited<ReturnType<typeof startRulesProbe>>;

async function startProcesses(options: BenchOptions, run: RunPlan, backends: Backends, devices: RegisteredDevices, cleanups: Cleanups, log: BenchLog): Promise<SluiceProcesses> {
  const { prefix, notes } = run;
  const { dataDir, secret, rulesFile } = devices;
  const token = randomBytes(16).toString('hex');
  log(`starting sluice (topics ${prefix}.*, store ${backends.storeUrl})`);
  const sluiceEnv = {
    KAFKA_BROKERS: backends.kafkaBrokers.join(','),
    INFLUX_URL: backends.storeUrl,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_CLIENT_ID: `sluice-${prefix}`,
    KAFKA_PARTITIONS: String(options.partitions),
    ...(options.kafkaNodes ? { KAFKA_REPLICATION_FACTOR: String(Math.min(3, options.kafkaNodes)) } : {}),
    DATA_DIR: dataDir,
    DASHBOARD_TOKEN: token,
    ...options.sluiceEnv,
  };
  // The forwarder's sinks: only the process running the forwarder points at them.
  const sinkEnv: Record<string, string> = Object.assign({}, ...backends.sinkServers.map((server) => server.env));
  const forwarding = backends.sinkServers.length > 0;
  // Split: the measured gateway process runs gateway+bridge; writer and dashboard (and the forwarder) run beside it.
  // Not split: one process with every role (the forwarder among them when a sink is configured).
  const split = rolesSplit(options);
  const mainRoles = split ? ['--roles', 'gateway,bridge'] : options.rules ? ['--roles', `gateway,bridge,writer,dashboard${forwarding ? ',forwarder' : ''}`] : [];
  const sluice: SluiceRole = await startSluiceRole(split ? sluiceEnv : { ...sluiceEnv, ...sinkEnv }, options.sluiceNodeArgs, mainRoles);
  cleanups.first(sluice.stop);
  const gateways = [sluice];
  // The first gateway created the topics; the others start side by side.
  // Each with a DATA_DIR of its own, as on machines of their own: they share the registry through Kafka ({prefix}.devices).
  const others = await Promise.allSettled(
    Array.from({ length: gatewayCount(options) - 1 }, async () => {
      const ownDir = await mkdtemp(join(tmpdir(), 'sluice-bench-gateway-'));
      cleanups.last(() => rm(ownDir, { recursive: true, force: true }));
      return startSluiceRole({ ...sluiceEnv, DATA_DIR: ownDir }, options.sluiceNodeArgs, mainRoles);
    }),
  );
  for (const started of others) if (started.status === 'fulfilled') cleanups.first(started.value.stop);
  for (const started of others) {
    if (started.status === 'rejected') throw started.reason;
    gateways.push(started.value);
  }
  let balancer: TcpBalancer | undefined;
  if (gateways.length > 1) {
    const started = await startTcpBalancer({ upstreams: gateways.map((gateway) => ({ host: '127.0.0.1', port: gateway.mqttPort })) });
    balancer = started;
    cleanups.first(() => started.close());
    notes.push(
      `gateways: ${gateways.length} gateway+bridge processes, a DATA_DIR each, sharing the device registry in Kafka ({prefix}.devices), behind the bench's TCP balancer (scripts/tcp-balancer.ts: least connections, a refused connect handed to the next gateway; in the bench process, so its CPU is in "bench"); the devices connect to it`,
    );
  }
  const edgePort = balancer?.port ?? sluice.mqttPort;
  const helpers: SluiceRole[] = [];
  let rulesRole: SluiceRole | undefined;
  let rulesProbe: RulesProbe | undefined;
  if (options.rules) {
    const started = await startSluiceRole({ ...sluiceEnv, RULES_FILE: rulesFile }, [], ['--roles', 'rules']);
    rulesRole = started;
    cleanups.first(started.stop);
    const kafka = kafkaConnectionFrom(loadConfig({ ...sluiceEnv }, { kafkaNeedsStore: false }));
    rulesProbe = await startRulesProbe({ url: `mqtt://127.0.0.1:${edgePort}`, secret, kafka, rateHz: 10 });
    notes.push(`rules: 10 rules (bench/rules.ts) in a process of their own; alert latency = probe reading published (its ts) → its alert transition read from ${prefix}.alerts, ${10} probe readings a second`);
  }
  if (split) {
    for (const roles of HELPER_NAMES.slice(0, forwarding ? 3 : 2)) {
      const helper = await startSluiceRole(roles === 'forwarder' ? { ...sluiceEnv, ...sinkEnv } : sluiceEnv, [], ['--roles', roles]);
      helpers.push(helper);
      cleanups.first(helper.stop);
    }
    notes.push(
      gateways.length > 1
        ? `roles split: ${gateways.length} gateway+bridge processes, a writer${forwarding ? ', a dashboard and a forwarder' : ' and a dashboard'}; gateway RSS is the largest gateway+bridge process's (perGateway has each)`
        : `roles split: gateway+bridge, writer${forwarding ? ', dashboard and forwarder in four processes' : ' and dashboard in three processes'}; gateway RSS is the gateway+bridge process`,
    );
  }
  const dashboardPort = split ? helpers[1]!.dashboardPort : sluice.dashboardPort;
  const rssPeaks = gateways.map(() => 0);
  const rssTimer = setInterval(() => {
    gateways.forEach((gateway, i) => {
      void gateway.rssBytes().then((rss) => {
        if (rss !== undefined) rssPeaks[i] = Math.max(rssPeaks[i]!, rss);
      });
    });
  }, 1000);
  cleanups.first(async () => clearInterval(rssTimer));
  return {
    token,
    sluice,
    gateways,
    ...(balancer ? { balancer } : {}),
    edgePort,
    helpers,
    ...(rulesRole ? { rulesRole } : {}),
    ...(rulesProbe ? { rulesProbe } : {}),
    dashboardPort,
    rssPeaks: () => [...rssPeaks],
  };
}

/** Live push and store latency, measured on the same sampled devices. */
interface Meters {
  sampleIds: string[];
  live: LiveMeter;
  storeSampler: StoreSampler;
  /** With --sink: each sink's server, read into a tally. */
  sinks: SinkMeter[];
}

async function startMeters(options: BenchOptions, run: RunPlan, backends: Backends, devices: RegisteredDevices, processes: SluiceProcesses, cleanups: Cleanups, log: BenchLog): Promise<Meters> {
  // The same sampled devices for live push and store latency; at most 32, the rooms one socket.io client may join.
  const sampleIds = devices.ids.slice(0, Math.min(LATENCY_SAMPLE_DEVICES, options.devices));
  const live = await connectLive(processes.dashboardPort, processes.token, sampleIds, run.messagesPerDevice, log);
  cleanups.first(async () => live.close());
  const storeSampler = sampleStoreLatency(backends.storeUrl, run.runId, sampleIds);
  cleanups.first(() => storeSampler.stop());
  const sinks: SinkMeter[] = [];
  for (const server of backends.sinkServers) {
    const meter = await meterSink(server, run.runId);
    cleanups.first(() => meter.close());
    sinks.push(meter);
  }
  return { sampleIds, live, storeSampler, sinks };
}

/** The load as the devices saw it, with what was measured during it and the faults as they were applied. */
interface LoadRun {
  load: LoadResult;
  /** When the devices were connected and the load began (epoch ms). */
  loadStartAt: number;
  connectedDevices: number;
  /** Each gateway's RSS after the load, `sluice` first. */
  rssAfterLoad: (number | undefined)[];
  /** With a balancer: its figures per gateway when the load began, and after it. */
  balancerAtStart: UpstreamCounts[] | undefined;
  balancerAtEnd: UpstreamCounts[] | undefined;
  probed: Awaited<ReturnType<RulesProbe['stop']>> | undefined;
  cpu: CpuReport | undefined;
  applied: AppliedFault[];
}

async function driveLoad(
  options: BenchOptions,
  run: RunPlan,
  backends: Backends,
  devices: RegisteredDevices,
  processes: SluiceProcesses,
  meters: Meters,
  cleanups: Cleanups,
  log: BenchLog,
  onProgress?: (p: LoadProgress & { phase: string }) => void,
): Promise<LoadRun> {
  const { runId, prefix, messagesPerDevice, warmupMs, faults, notes } = run;
  const { cluster, store } = backends;
  const { ids, secret } = devices;
  const { gateways, balancer, edgePort, helpers, rulesRole, rulesProbe } = processes;
  const { live, storeSampler, sinks } = meters;
  log(`connecting ${options.devices} devices (${options.workers} load worker(s))${balancer ? ` through the balancer to ${gateways.length} gateways` : ''}`);
  const loadDevices = ids.slice(0, options.devices).map((id, index) => ({ index, id, secret }));
  const cpuProbes: CpuProbe[] = [
    ...gateways.map((gateway, i) => ({ name: gatewayProcessName(options, i), seconds: () => gateway.cpuSeconds() })),
    ...helpers.map((helper, i) => ({ name: HELPER_NAMES[i]!, seconds: () => helper.cpuSeconds() })),
    ...(rulesRole ? [{ name: 'rules', seconds: () => rulesRole.cpuSeconds() }] : []),
    ...(store ? [{ name: 'store', seconds: () => store.cpuSeconds() }] : []),
    { name: 'bench', seconds: async () => { const used = process.cpuUsage(); return (used.user + used.system) / 1e6; } },
  ];
  let cpuWindow: Promise<Awaited<ReturnType<typeof startCpuWindow>>> | undefined;
  let schedule: FaultSchedule | undefined;
  let loadStartAt = 0;
  let connectedDevices = options.devices;
  let balancerAtStart: UpstreamCounts[] | undefined;
  const load = await runLoad({
    host: '127.0.0.1',
    port: edgePort,
    devices: loadDevices,
    rate: options.rate,
    durationS: options.durationS,
    qos: options.qos,
    runId,
    payloadBytes: options.payloadBytes,
    messagesPerDevice,
    connectConcurrency: 100,
    maxInflightPerDevice: options.maxInflightPerDevice,
    maxReconnectMs: options.maxReconnectMs ?? 5000,
    drainMs: 60_000,
    workers: options.workers,
    warmupMs,
    onConnected: (c) => {
      loadStartAt = c.startAt;
      connectedDevices = c.connected;
      balancerAtStart = balancer?.counts();
      cpuWindow = startCpuWindow(cpuProbes);
      live.measureFrom(c.startAt + warmupMs);
      storeSampler.measureFrom(c.startAt + warmupMs);
      rulesProbe?.measureFrom(c.startAt + warmupMs);
      for (const sink of sinks) sink.tally.measureFrom(c.startAt + warmupMs);
      log(`connected ${c.connected}, refused ${c.refused}, failed ${c.failed}${balancerAtStart ? ` (per gateway ${balancerAtStart.map((u) => u.active).join(' / ')})` : ''}; publishing for ${options.durationS} s`);
      if (faults.length > 0) {
        schedule = scheduleFaults(
          faults,
          c.startAt,
          {
            ...(cluster ? { kafka: cluster } : {}),
            telemetryTopic: `${prefix}.telemetry`,
            ...(store ? { store } : {}),
            ...(rolesSplit(options) ? { writer: helpers[0]! } : {}),
            gateways,
            ...(balancer ? { gatewayConnections: () => balancer.counts().map((u) => u.active) } : {}),
          },
          log,
        );
        const scheduled = schedule;
        cleanups.first(async () => scheduled.cancel());
      }
    },
    ...(onProgress ? { onProgress: (p: LoadProgress) => onProgress({ ...p, phase: 'sluice' }) } : {}),
  });
  const rssAfterLoad = await Promise.all(gateways.map((gateway) => gateway.rssBytes()));
  const balancerAtEnd = balancer?.counts();
  const probed = await rulesProbe?.stop();
  const cpu = cpuWindow ? await (await cpuWindow).finish(load.acked) : undefined;
  if (cpu) notes.push(describeCpu(cpu));
  // A fault still being lifted (a slow restart) finishes before the store is read.
  const applied = schedule ? await schedule.done : [];
  return { load, loadStartAt, connectedDevices, rssAfterLoad, balancerAtStart, balancerAtEnd, probed, cpu, applied };
}

/**
 * Waits until the store holds every acknowledged message, or stops growing, then for the meters' last
 * arrivals. Returns the deadline of the store wait (the accounting keeps to it too).
 */
async function waitForStore(options: BenchOptions, run: RunPlan, backends: Backends, loaded: LoadRun, meters: Meters, log: BenchLog): Promise<number> {
  const { load } = loaded;
  log(`load done: sent ${load.sent}, acked ${load.acked}; waiting for the store`);
  const storeDeadline = Date.now() + options.storeWaitS * 1000;
  let lastCount = -1;
  let stableSince = Date.now();
  for (;;) {
    const count = await countPoints(backends.storeUrl, run.runId).catch(() => lastCount);
    if (count >= load.acked || Date.now() > storeDeadline) break;
    if (count !== lastCount) {
      lastCount = count;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > 15_000) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  // Let the live feed's last batch arrive and the sampler see the last points.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await meters.storeSampler.stop();
  return storeDeadline;
}

/**
 * With --sink: waits (at most `sinkWaitS` from the end of the load, or until nothing new arrived for 30 s, longer
 * than the forwarder's longest retry backoff) until every sink holds every acknowledged reading, then stops reading
 * the servers and returns each sink's figures. Never throws: a sink that could not be read reports what it had.
 */
async function waitForSinks(options: BenchOptions, run: RunPlan, meters: Meters, loaded: LoadRun, log: BenchLog): Promise<SinkFigures[] | undefined> {
  if (meters.sinks.length === 0) return undefined;
  const { load } = loaded;
  const deadline = Date.now() + (options.sinkWaitS ?? 120) * 1000;
  const pending = new Set(meters.sinks);
  let lastProgress = 0;
  const lastDistinct = new Map(meters.sinks.map((sink) => [sink, { count: -1, since: Date.now() }]));
  while (pending.size > 0 && options.signal?.aborted !== true) {
    for (const sink of pending) {
      const missing = sink.tally.missing(load.rows);
      const seen = lastDistinct.get(sink)!;
      const distinct = sink.tally.distinct();
      if (distinct !== seen.count) lastDistinct.set(sink, { count: distinct, since: Date.now() });
      if (missing === 0) {
        pending.delete(sink);
        log(`${sink.tally.sink}: every acknowledged reading arrived (${distinct} distinct)`);
      } else if (Date.now() > deadline || Date.now() - seen.since > 30_000) {
        pending.delete(sink);
        log(`${sink.tally.sink}: ${missing} acknowledged readings had not arrived when the wait ended${Date.now() > deadline ? ` (--sink-wait ${options.sinkWaitS ?? 120} s)` : ' (nothing new for 30 s)'}`);
      } else if (Date.now() - lastProgress >= 5000) {
        log(`${sink.tally.sink}: waiting for ${missing} acknowledged readings`);
      }
    }
    if (Date.now() - lastProgress >= 5000) lastProgress = Date.now();
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const figures: SinkFigures[] = [];
  for (const sink of meters.sinks) {
    await sink.close().catch((error: unknown) => log(`${sink.tally.sink}: closing the bench's reader failed`, { err: error }));
    figures.push(sink.tally.figures({ firstSendAt: load.firstSendAt, lastAckAt: load.lastAckAt }, load.rows));
    const first = sink.tally.firstArrivalAt();
    if (first !== undefined) run.notes.push(`sink ${sink.tally.sink}: the first reading arrived ${((first - load.firstSendAt) / 1000).toFixed(1)} s after the first publish`);
    const foreign = sink.tally.foreign();
    if (foreign > 0) run.notes.push(`sink ${sink.tally.sink}: ${foreign} messages were not readings of this run's devices (left out of every figure)`);
  }
  return figures;
}

/**
 * Every acknowledged message against the store's full export: lost, stored twice, stored but never acknowledged.
 * The raw count includes duplicates, so it can reach `acked` before every message is in: while messages are still
 * missing and the store keeps growing, it looks again (until `storeDeadline`).
 */
async function accountStored(run: RunPlan, backends: Backends, loaded: LoadRun, storeDeadline: number): Promise<Accounting> {
  const { load } = loaded;
  const acked = ackedFromRows(load.rows);
  let accounting = account(acked, load.rows, await storedValues(backends.storeUrl, run.runId));
  let lastLost = accounting.lost;
  let lostSince = Date.now();
  while (accounting.lost > 0 && Date.now() < storeDeadline && Date.now() - lostSince < 15_000) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    accounting = account(acked, load.rows, await storedValues(backends.storeUrl, run.runId));
    if (accounting.lost !== lastLost) {
      lastLost = accounting.lost;
      lostSince = Date.now();
    }
  }
  if (accounting.lost > 0) run.notes.push(`lost examples (device index, message): ${JSON.stringify(accounting.lostExamples)}`);
  return accounting;
}

type Accounting = ReturnType<typeof account>;

/** With --idle-devices: the measured process's memory before and after that many more connections. */
async function measureIdle(options: BenchOptions, devices: RegisteredDevices, processes: SluiceProcesses, log: BenchLog): Promise<BenchReport['idle']> {
  if (!(options.idleDevices > 0)) return undefined;
  const { ids, secret } = devices;
  const { sluice } = processes;
  log(`opening ${options.idleDevices} idle connections`);
  const before = await sluice.rssBytes();
  const clients: LeanClient[] = [];
  const idleIds = ids.slice(options.devices);
  let next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < idleIds.length) {
        const id = idleIds[next++]!;
        try {
          clients.push(await connectLean({ host: '127.0.0.1', port: sluice.mqttPort, clientId: id, username: id, password: secret, keepaliveS: 60, connectTimeoutMs: 300_000 }));
        } catch {
          // counted as not connected
        }
        if (clients.length % 1000 === 0) log(`  ${clients.length} idle connections`);
      }
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const after = await sluice.rssBytes();
  const idle = {
    devices: options.idleDevices,
    connected: clients.length,
    gatewayRssMiB: after === undefined ? null : round(after / MiB),
    rssBeforeMiB: before === undefined ? null : round(before / MiB),
  };
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  return idle;
}

/** The processes' own view (their stages), the live meter's count, then the processes stopped. */
interface Finished {
  stages: Stages | undefined;
  /** null: live push not measured. */
  pushedLive: number | null;
}

async function stopProcesses(run: RunPlan, processes: SluiceProcesses, meters: Meters): Promise<Finished> {
  const { notes } = run;
  const { gateways, balancer, helpers, rulesRole, token } = processes;
  const { live } = meters;
  const stages = await scrapeStages([...gateways, ...helpers].map((child) => child.dashboardPort), token);
  if (stages) notes.push(describeStages(stages));
  if (meters.sinks.length > 0) {
    // The forwarder's view of its writes: the one process, or the forwarder process of its own.
    const forwarder = helpers[HELPER_NAMES.indexOf('forwarder')] ?? processes.sluice;
    const text = await fetch(`http://127.0.0.1:${forwarder.dashboardPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })
      .then((response) => (response.ok ? response.text() : ''))
      .catch(() => '');
    for (const { tally } of meters.sinks) {
      const writes = describeSinkWrites(tally.sink, text);
      if (writes) notes.push(writes);
    }
  }
  live.close();
  const pushedLive = live.reason ? null : live.pushed();
  if (live.reason) notes.push(`live push not measured: ${live.reason}`);
  await balancer?.close();
  for (const gateway of gateways) await gateway.stop();
  for (const helper of helpers) await helper.stop();
  await rulesRole?.stop();
  return { stages, pushedLive };
}

/** The report (the bench JSON) and its closing notes; the fault lines are logged too. */
function buildReport(
  options: BenchOptions,
  run: RunPlan,
  backends: Backends,
  processes: SluiceProcesses,
  meters: Meters,
  loaded: LoadRun,
  accounting: Accounting,
  idle: BenchReport['idle'],
  finished: Finished,
  log: BenchLog,
  sinks: SinkFigures[] | undefined,
): BenchReport {
  const { warmupMs, faults, notes, startedAt } = run;
  const { store, storeUrl } = backends;
  const { gateways, helpers } = processes;
  const { sampleIds, live, storeSampler } = meters;
  const { load, loadStartAt, connectedDevices, rssAfterLoad, probed, cpu, applied } = loaded;
  const { stages, pushedLive } = finished;
  const rssPeaks = processes.rssPeaks();
  const rssPeak = Math.max(...rssPeaks);
  const measuredRss = rssAfterLoad.filter((rss): rss is number => rss !== undefined);
  const offeredPerSec = Math.round(options.devices * options.rate);
  const faultReports = applied.map((fault) =>
    reportFault(fault, load, { offeredPerSec: connectedDevices * options.rate, loadEndMs: options.durationS * 1000, loadStartAt, warmupMs, firstFaultAtMs: Math.min(...faults.map((f) => f.atS * 1000)), polls: storeSampler.polls, intervalMs: 1000 / options.rate }),
  );
  const recoveries = faultReports.map((f) => f.recoveryS);
  const seconds = Math.max(0.001, (load.lastAckAt - load.firstSendAt) / 1000);
  const perSecond = 1000 / load.seriesBucketMs;
  const report: BenchReport = {
    devices: options.devices,
    qos: options.qos,
    durationS: options.durationS,
    sent: load.sent,
    acked: load.acked,
    stored: accounting.stored,
    pushedLive,
    lost: accounting.lost,
    duplicatesStored: accounting.duplicatesStored,
    duplicatesKept: accounting.duplicatesKept,
    ingestPerSec: Math.round(load.acked / seconds),
    latencyMs: {
      ackP50: round(load.ackHistogram.getValueAtPercentile(50) / 1000, 2),
      ackP99: round(load.ackHistogram.getValueAtPercentile(99) / 1000, 2),
      livePushP50: pushedLive ? live.histogram.getValueAtPercentile(50) : null,
      livePushP99: pushedLive ? live.histogram.getValueAtPercentile(99) : null,
      storedP50: storeSampler.histogram.totalCount > 0 ? storeSampler.histogram.getValueAtPercentile(50) : null,
      storedP99: storeSampler.histogram.totalCount > 0 ? storeSampler.histogram.getValueAtPercentile(99) : null,
    },
    gatewayRssMiB: measuredRss.length === 0 ? null : round(Math.max(...measuredRss) / MiB),
    gateways: gateways.length,
    ...(gateways.length > 1 ? { perGateway: gatewayFigures(options, loaded, rssPeaks, gateways) } : {}),
    offeredPerSec,
    ratePerDevice: options.rate,
    payloadBytes: options.payloadBytes,
    connected: load.connected,
    errors: load.errors,
    throttled: load.throttled,
    disconnects: load.disconnects,
    reconnects: load.reconnects,
    reconnectFailures: load.reconnectFailures,
    resent: load.resent,
    unacked: options.qos === 1 ? load.sent - load.acked : 0,
    storedNotAcked: accounting.storedNotAcked,
    ackMaxMs: round(load.ackHistogram.maxValue / 1000, 1),
    gatewayRssPeakMiB: rssPeak > 0 ? round(rssPeak / MiB) : null,
    kafkaNodes: options.kafkaNodes ?? null,
    recoveryS: faultReports.length === 0 || recoveries.some((r) => r === null) ? null : Math.max(...(recoveries as number[])),
    faults: faultReports,
    timeline: { bucketS: 1, offered: rebucket(load.dueSeries, perSecond), acked: rebucket(load.ackedSeries, perSecond), disconnects: rebucket(load.disconnectSeries, perSecond), reconnects: rebucket(load.reconnectSeries, perSecond) },
    ...(stages ? { stages } : {}),
    ...(cpu ? { cpu } : {}),
    ...(idle ? { idle } : {}),
    ...(sinks ? { sinks } : {}),
    ...(probed ? { rules: { rules: 10, transitions: probed.transitions, latencyMs: { p50: probed.p50Ms, p99: probed.p99Ms }, cpuUsPerMessage: cpu?.perMessageUs.rules ?? null } } : {}),
    baselines: {},
    ratios: {},
    store: storeUrl,
    notes,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memTotalGiB: round(totalmem() / 1024 ** 3), memFreeGiB: round(freemem() / 1024 ** 3), node: process.version },
    startedAt,
  };
  if (idle && gateways.length > 1) notes.push('idle connections: opened straight to gateway 0, not through the balancer, so idle.gatewayRssMiB is one process\'s memory per connection');
  if (warmupMs > 0) notes.push(`latency percentiles leave out messages published in the first ${options.warmupS} s of the load (warm-up: JIT, first Kafka requests); every count includes them`);
  notes.push(`live push latency and count: the ${sampleIds.length} sampled devices' socket.io rooms (device:<id>), first arrival per message`);
  notes.push(`stored latency: from the same ${sampleIds.length} sampled devices, store polled every 250 ms (an upper bound, up to one poll late)`);
  notes.push('ingestPerSec: acknowledged messages (one reading each) / (last PUBACK − first publish)');
  if (sinks) {
    notes.push(
      `sinks: forwarded/s = distinct readings (by reading id) that reached the sink's server between the first publish and the last PUBACK, over that window (ingestPerSec's); latency = device publish (the payload's ts) → the bench's consumer of the server got it, every reading after the warm-up; lost = acknowledged readings not at the server when the wait ended (--sink-wait ${options.sinkWaitS ?? 120} s); drain = last PUBACK → last reading arrived`,
    );
    notes.push(`sinks: the forwarder runs ${rolesSplit(options) ? 'in a process of its own (CPU "forwarder")' : 'in the Sluice process (its CPU is in "sluice")'}; the bench's reader of the server is in "bench", the server itself in "rest"`);
  }
  if (load.disconnects > 0 || faultReports.length > 0) {
    notes.push(`devices: a dropped connection is reconnected with backoff (250 ms doubling to ${(options.maxReconnectMs ?? 5000) / 1000} s, jittered; recovery after a gateway restart includes it) and its unacknowledged messages resent with DUP; a PUBACK wait (ack max) counts from the first send (or from when the message fell due while its device was disconnected); errors are explicit refusals (CONNACK ≠ 0), unacked = sent − acked at the end`);
  }
  if (faultReports.length > 0) {
    notes.push('faults: recovery = from the end of the fault (restart done) until acked/s over a 1 s window is ≥ 95 % of what the devices offered in it (fell due) for 3 s; the dip = from the first 1 s window below 95 % after the fault until back; times in s from the start of the load');
    if (store) notes.push('faults: duplicatesStored counts points the store got twice (VictoriaMetrics without dedup): resends of readings Kafka already had, and a restarted writer writing again what it had not committed; InfluxDB keeps one point per series and timestamp');
    if ([...gateways, ...helpers].some((role) => role.restarts > 0)) notes.push('faults: CPU, stages and RSS of a restarted process: CPU adds up every incarnation; stages and RSS are the last one\'s');
    for (const fault of faultReports) log(describeFault(fault, options.durationS));
  }
  return report;
}

/** Each gateway of several: its connections from the balancer's counts, its RSS and its CPU per message. */
function gatewayFigures(options: BenchOptions, loaded: LoadRun, rssPeaks: number[], gateways: SluiceRole[]): GatewayFigures[] {
  const { balancerAtStart, balancerAtEnd, rssAfterLoad, cpu } = loaded;
  return gateways.map((gateway, index) => ({
    index,
    connectedAtStart: balancerAtStart?.[index]?.active ?? 0,
    connections: balancerAtEnd?.[index]?.total ?? 0,
    failedConnects: balancerAtEnd?.[index]?.failed ?? 0,
    rssMiB: mib(rssAfterLoad[index]),
    rssPeakMiB: mib(rssPeaks[index]),
    cpuPerMessageUs: cpu?.perMessageUs[gatewayProcessName(options, index)] ?? null,
    restarts: gateway.restarts,
  }));
}

/** The baselines asked for, run after Sluice with the same load; each adds its figures and Sluice's ratio to it. */
async function runBaselines(options: BenchOptions, run: RunPlan, backends: Backends, report: BenchReport, log: BenchLog): Promise<void> {
  const baselineLoad = {
    devices: options.devices,
    rate: options.rate,
    durationS: options.durationS,
    payloadBytes: options.payloadBytes,
    workers: options.workers,
    runId: run.runId,
    messagesPerDevice: run.messagesPerDevice,
    maxInflightPerDevice: options.maxInflightPerDevice,
    warmupMs: run.warmupMs,
  };
  for (const baseline of options.baselines) {
    if (baseline === 'mosquitto') {
      report.baselines.mosquitto = await mosquittoBaseline(baselineLoad, log);
      report.ratios.vsMosquitto = round(report.ingestPerSec / report.baselines.mosquitto.perSec, 2);
    } else {
      report.baselines.kafka = await kafkaBaseline(backends.kafkaBrokers, baselineLoad, Number(options.sluiceEnv.BRIDGE_MAX_BATCH_RECORDS ?? 2000), options.partitions, log);
      report.ratios.vsKafka = round(report.ingestPerSec / report.baselines.kafka.perSec, 2);
    }
  }
}
