/**
 * Installs (when missing), starts, health-checks and stops the real services the tests use (DESIGN.md §3):
 * a single-node KRaft Apache Kafka run from Maven jars, and Debian's VictoriaMetrics as the
 * InfluxDB-compatible store. Mosquitto's broker and clients are installed too, but not started.
 *
 *   npx tsx scripts/services.ts up        stdout: KAFKA_BROKERS=… INFLUX_URL=…  (progress goes to stderr)
 *   npx tsx scripts/services.ts down [--wipe] [--only kafka,victoria-metrics]
 *   npx tsx scripts/services.ts status
 *
 * Environment: SLUICE_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/sluice), SLUICE_KAFKA_PORT (19092; the
 * KRaft controller takes the next port), SLUICE_INFLUX_PORT (18428), SLUICE_KAFKA_VERSION (4.1.1).
 *
 * Everything lives in the cache dir, outside git: `kafka-libs/` (jars, kept across runs), `maven/pom.xml`,
 * and `run/` (pid files, logs, data; `down --wipe` removes it).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from '../core/streams/kafkajs.js';

export type ServiceName = 'kafka' | 'victoria-metrics';
type Log = (line: string) => void;

const SERVICE_NAMES: readonly ServiceName[] = ['kafka', 'victoria-metrics'];
const LOG4J_VERSION = '2.24.3';
const DEPENDENCY_PLUGIN_VERSION = '3.8.1';
const POLL_MS = 250;
const PROGRESS_EVERY_MS = 5_000;
const STOP_GRACE_MS = 20_000;
const LOG_TAIL_LINES = 30;

/** Commands the tests rely on, and the Debian package that brings each one. */
const DEBIAN_TOOLS: readonly { command: string; pkg: string }[] = [
  { command: 'java', pkg: 'openjdk-17-jre-headless' },
  { command: 'mvn', pkg: 'maven' },
  { command: 'victoria-metrics', pkg: 'victoria-metrics' },
  { command: 'mosquitto_pub', pkg: 'mosquitto-clients' },
  { command: 'mosquitto_sub', pkg: 'mosquitto-clients' },
  { command: 'mosquitto', pkg: 'mosquitto' },
  // The dashboard's end-to-end tests drive Debian's Chromium (never a downloaded browser build).
  { command: 'chromium', pkg: 'chromium' },
];

interface Settings {
  cacheDir: string;
  runDir: string;
  kafkaVersion: string;
  kafkaPort: number;
  controllerPort: number;
  influxPort: number;
}

interface ServiceSpec {
  name: ServiceName;
  ports: number[];
  pidFile: string;
  /** stdout/stderr of the process. */
  outFile: string;
  /** Shown, last lines first-to-last, when a start fails. */
  logFiles: string[];
  /** What `down --wipe --only <name>` removes. */
  dataPaths: string[];
  /** Only our own process has this on its command line, so a recycled pid is never taken for ours. */
  cmdlineMarker: string;
  startDeadlineMs: number;
  prepare(log: Log): Promise<void>;
  command(): { file: string; args: string[]; cwd: string };
  answers(): Promise<boolean>;
  summary: string;
}

export interface ServicesUpResult {
  kafkaBrokers: string;
  influxUrl: string;
  /** The services this call started (not the ones it found running): what a matching `servicesDown` stops. */
  startedByUs: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Public API (vitest global setup, CLI)

export async function servicesUp(options: { log?: Log } = {}): Promise<ServicesUpResult> {
  const log = options.log ?? logToStderr;
  const settings = loadSettings();
  mkdirSync(settings.runDir, { recursive: true });
  return withLock(lockFile(settings), log, async () => {
    await ensureDebianTools(log);
    const specs = serviceSpecs(settings);
    // Fail before starting anything rather than start Kafka only to stop it again.
    for (const spec of specs) if (runningPid(spec) === undefined) await assertPortsFree(spec);
    const startedByUs: ServiceName[] = [];
    try {
      for (const spec of specs) {
        if ((await ensureRunning(spec, log)) === 'started') startedByUs.push(spec.name);
      }
    } catch (error) {
      // Leave the machine as we found it: a half-started set is worse than none.
      for (const spec of specs.filter((s) => startedByUs.includes(s.name))) await stopService(spec, log);
      throw error;
    }
    return { ...endpoints(settings), startedByUs };
  });
}

export async function servicesDown(options: { wipe?: boolean; only?: string[]; log?: Log } = {}): Promise<void> {
  const log = options.log ?? logToStderr;
  const settings = loadSettings();
  const only = options.only ?? SERVICE_NAMES;
  const unknown = only.filter((name) => !SERVICE_NAMES.includes(name as ServiceName));
  if (unknown.length > 0) throw new Error(`unknown service(s): ${unknown.join(', ')} (known: ${SERVICE_NAMES.join(', ')})`);
  if (!existsSync(settings.runDir)) return;
  await withLock(lockFile(settings), log, async () => {
    const specs = serviceSpecs(settings).filter((spec) => only.includes(spec.name));
    for (const spec of specs) await stopService(spec, log);
    if (!options.wipe) return;
    const paths = options.only ? specs.flatMap((spec) => spec.dataPaths) : [settings.runDir];
    for (const path of paths) rmSync(path, { recursive: true, force: true });
    log(`wiped ${paths.join(', ')}`);
  });
}

/**
 * The Kafka jars (resolved with Maven when missing), for tests that run brokers of their own, e.g. a
 * three-node cluster or a broker they stop and start. Returns the classpath directory.
 */
export async function kafkaJars(options: { log?: Log } = {}): Promise<string> {
  const settings = loadSettings();
  const libs = join(settings.cacheDir, 'kafka-libs');
  await ensureKafkaJars(settings, libs, options.log ?? logToStderr);
  return libs;
}

export function servicesStatus(): { name: ServiceName; pid?: number; summary: string }[] {
  return serviceSpecs(loadSettings()).map((spec) => ({ name: spec.name, pid: runningPid(spec), summary: spec.summary }));
}

// ---------------------------------------------------------------------------------------------------------
// Settings and layout

function loadSettings(): Settings {
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const cacheDir = process.env.SLUICE_CACHE_DIR || join(cacheHome, 'sluice');
  const kafkaPort = portFromEnv('SLUICE_KAFKA_PORT', 19092);
  return {
    cacheDir,
    runDir: join(cacheDir, 'run'),
    kafkaVersion: process.env.SLUICE_KAFKA_VERSION || '4.1.1',
    kafkaPort,
    controllerPort: kafkaPort + 1,
    influxPort: portFromEnv('SLUICE_INFLUX_PORT', 18428),
  };
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65534) throw new Error(`${name} must be a port number, got "${raw}"`);
  return port;
}

function endpoints(settings: Settings): { kafkaBrokers: string; influxUrl: string } {
  return { kafkaBrokers: `127.0.0.1:${settings.kafkaPort}`, influxUrl: `http://127.0.0.1:${settings.influxPort}` };
}

function lockFile(settings: Settings): string {
  return join(settings.runDir, '.services.lock');
}

function serviceSpecs(settings: Settings): ServiceSpec[] {
  return [kafkaSpec(settings), victoriaMetricsSpec(settings)];
}

// ---------------------------------------------------------------------------------------------------------
// Kafka: single node, KRaft, broker and controller in one JVM

function kafkaSpec(settings: Settings): ServiceSpec {
  const dir = join(settings.runDir, 'kafka');
  const libs = join(settings.cacheDir, 'kafka-libs');
  const propsFile = join(dir, 'server.properties');
  const log4jFile = join(dir, 'log4j2.properties');
  const serverLog = join(dir, 'server.log');
  const outFile = join(settings.runDir, 'kafka.out');
  const { kafkaBrokers } = endpoints(settings);
  const javaArgs = (mainClass: string, ...args: string[]): string[] => [
    '-Xmx512m',
    '-Xms256m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    // Log4j's own shutdown hook would close the log before Kafka's hook logs its controlled shutdown.
    '-Dlog4j2.shutdownHookEnabled=false',
    `-Dlog4j2.configurationFile=${log4jFile}`,
    '-cp',
    join(libs, '*'), // the JVM expands the wildcard itself; no shell involved
    mainClass,
    ...args,
  ];
  return {
    name: 'kafka',
    ports: [settings.kafkaPort, settings.controllerPort],
    pidFile: join(settings.runDir, 'kafka.pid'),
    outFile,
    logFiles: [serverLog, outFile],
    dataPaths: [dir, outFile],
    cmdlineMarker: propsFile,
    startDeadlineMs: 90_000,
    summary: `${kafkaBrokers} (KRaft controller on :${settings.controllerPort}), log ${serverLog}`,
    async prepare(log) {
      await ensureKafkaJars(settings, libs, log);
      mkdirSync(dir, { recursive: true });
      writeFileSync(propsFile, kafkaServerProperties(settings, join(dir, 'data')));
      writeFileSync(log4jFile, kafkaLog4jProperties(serverLog));
      await formatKafkaStorage(join(dir, 'data'), javaArgs('kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', propsFile), log);
    },
    command: () => ({ file: 'java', args: javaArgs('kafka.Kafka', propsFile), cwd: dir }),
    answers: () => kafkaAnswers(kafkaBrokers),
  };
}

function kafkaArtifacts(kafkaVersion: string): string[] {
  return [
    `org.apache.kafka:kafka_2.13:${kafkaVersion}`,
    // The Kafka jars log through SLF4J but bring no binding; without one the broker is silent. Kafka 4.1
    // resolves slf4j-api 1.7.36, which only finds 1.x bindings: log4j-slf4j2-impl would be ignored (NOP logger).
    `org.apache.logging.log4j:log4j-slf4j-impl:${LOG4J_VERSION}`,
    `org.apache.logging.log4j:log4j-core:${LOG4J_VERSION}`,
    `org.apache.logging.log4j:log4j-api:${LOG4J_VERSION}`,
  ];
}

async function ensureKafkaJars(settings: Settings, libs: string, log: Log): Promise<void> {
  const artifacts = kafkaArtifacts(settings.kafkaVersion);
  // The marker names what was resolved, so changing a version re-resolves instead of mixing jars.
  const marker = join(libs, '.complete');
  if (readIfExists(marker) === artifacts.join('\n')) return;

  const pomDir = join(settings.cacheDir, 'maven');
  mkdirSync(pomDir, { recursive: true });
  writeFileSync(join(pomDir, 'pom.xml'), pomXml(artifacts));
  rmSync(libs, { recursive: true, force: true });
  log(`kafka: resolving ${artifacts[0]} and log4j ${LOG4J_VERSION} with Maven into ${libs} (about 45 MB, downloaded once into the local Maven repository)`);
  const started = Date.now();
  const mvn = await runCommand(
    'mvn',
    ['-q', '-B', '-f', join(pomDir, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`, '-DincludeScope=runtime'],
    { progress: { log, label: 'kafka: maven still resolving' } },
  );
  if (mvn.code !== 0) throw new Error(`maven could not resolve the Kafka jars (exit ${mvn.code}):\n${tail(mvn.output, LOG_TAIL_LINES)}`);
  writeFileSync(marker, artifacts.join('\n'));
  log(`kafka: jars ready in ${seconds(Date.now() - started)}`);
}

function pomXml(artifacts: string[]): string {
  const dependencies = artifacts.map((coordinates) => {
    const [groupId, artifactId, version] = coordinates.split(':');
    return `    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/services.ts: only used to download the Kafka broker's runtime jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${dependencies.join('\n')}
  </dependencies>
  <build>
    <pluginManagement>
      <plugins>
        <plugin>
          <groupId>org.apache.maven.plugins</groupId>
          <artifactId>maven-dependency-plugin</artifactId>
          <version>${DEPENDENCY_PLUGIN_VERSION}</version>
        </plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
`;
}

function kafkaServerProperties(settings: Settings, dataDir: string): string {
  const { kafkaPort, controllerPort } = settings;
  return `# Generated by scripts/services.ts on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${kafkaPort},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${kafkaPort}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${dataDir}
num.partitions=3
# Topics are created by the code under test (DESIGN.md: "created at start-up when missing"), never implicitly.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
# One partition: the first consumer group of a run does not wait for 50 partitions to be created.
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
`;
}

function kafkaLog4jProperties(serverLog: string): string {
  // WARN keeps the file small; the INFO lines of KafkaRaftServer ("Kafka Server started") and BrokerServer
  // (about 20 lines per start and stop) show which start-up step a slow or stuck broker is in.
  return `# Generated by scripts/services.ts on every start.
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${serverLog}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.raftServer.name = kafka.server.KafkaRaftServer
logger.raftServer.level = info
logger.brokerServer.name = kafka.server.BrokerServer
logger.brokerServer.level = info
`;
}

async function formatKafkaStorage(dataDir: string, args: string[], log: Log): Promise<void> {
  // Formatting writes meta.properties with the cluster id; a formatted dir must keep its id.
  if (existsSync(join(dataDir, 'meta.properties'))) return;
  log(`kafka: formatting storage in ${dataDir}`);
  const format = await runCommand('java', args);
  if (format.code !== 0) throw new Error(`kafka storage format failed (exit ${format.code}):\n${tail(format.output, LOG_TAIL_LINES)}`);
}

/** A KRaft cluster id: 16 random bytes, base64url. Kafka avoids a leading '-' so the CLI never takes it for a flag. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** A TCP connect succeeds long before the broker serves requests, so ask it for its metadata instead. */
async function kafkaAnswers(broker: string): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'sluice-services',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 3_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------
// VictoriaMetrics: accepts the InfluxDB v2 write API

function victoriaMetricsSpec(settings: Settings): ServiceSpec {
  const dataDir = join(settings.runDir, 'vm');
  const outFile = join(settings.runDir, 'victoria-metrics.log');
  const { influxUrl } = endpoints(settings);
  const storageFlag = `-storageDataPath=${dataDir}`;
  return {
    name: 'victoria-metrics',
    ports: [settings.influxPort],
    pidFile: join(settings.runDir, 'victoria-metrics.pid'),
    outFile,
    logFiles: [outFile],
    dataPaths: [dataDir, outFile],
    cmdlineMarker: storageFlag,
    startDeadlineMs: 30_000,
    summary: `${influxUrl}, log ${outFile}`,
    async prepare() {
      mkdirSync(dataDir, { recursive: true });
    },
    command: () => ({
      file: findCommand('victoria-metrics') ?? 'victoria-metrics',
      args: [
        `-httpListenAddr=127.0.0.1:${settings.influxPort}`,
        storageFlag,
        // Fresh writes are searchable at once (with /internal/force_flush), not 30 s later.
        '-search.latencyOffset=0s',
        // Keeps one point per series and timestamp, as InfluxDB does (DESIGN.md §3).
        '-dedup.minScrapeInterval=1ms',
        // Tests write device timestamps from any year; the default retention would drop old ones.
        '-retentionPeriod=100y',
      ],
      cwd: settings.runDir,
    }),
    answers: () => httpAnswersOk(`${influxUrl}/health`),
  };
}

async function httpAnswersOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.ok && (await response.text()).trim() === 'OK';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Process lifecycle

async function ensureRunning(spec: ServiceSpec, log: Log): Promise<'reused' | 'started'> {
  const pid = readPidFile(spec.pidFile);
  if (pid !== undefined && isOurProcess(pid, spec.cmdlineMarker)) {
    // It may still be starting (an interrupted or concurrent `up`), so give it the start deadline.
    await waitUntilAnswers(spec, log, () => (isOurProcess(pid, spec.cmdlineMarker) ? undefined : 'process exited'));
    log(`${spec.name}: already running (pid ${pid}), reused: ${spec.summary}`);
    return 'reused';
  }
  if (pid !== undefined) {
    log(`${spec.name}: removing stale pid file (pid ${pid} is no longer ours)`);
    rmSync(spec.pidFile, { force: true });
  }
  await assertPortsFree(spec);
  await spec.prepare(log);
  const started = Date.now();
  const child = launch(spec, log);
  try {
    await waitUntilAnswers(spec, log, child.exitReason);
  } catch (error) {
    await stopService(spec, log);
    throw error;
  }
  log(`${spec.name}: started (pid ${child.pid}) in ${seconds(Date.now() - started)}: ${spec.summary}`);
  return 'started';
}

/** Spawns the service detached, so it outlives this script (and the vitest process that ran it). */
function launch(spec: ServiceSpec, log: Log): { pid: number; exitReason: () => string | undefined } {
  const { file, args, cwd } = spec.command();
  const out = openSync(spec.outFile, 'a');
  writeSync(out, `\n--- ${new Date().toISOString()} ${file} ${args.join(' ')}\n`);
  const child = spawn(file, args, { cwd, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  let exitReason: string | undefined;
  child.once('error', (error) => (exitReason = error.message));
  child.once('exit', (code, signal) => (exitReason = signal ? `killed by ${signal}` : `exit code ${code}`));
  child.unref();
  if (child.pid === undefined) throw new Error(`${spec.name}: could not start ${file}`);
  writeFileSync(spec.pidFile, `${child.pid}\n`);
  log(`${spec.name}: launched pid ${child.pid}, waiting until it answers`);
  return { pid: child.pid, exitReason: () => exitReason };
}

async function waitUntilAnswers(spec: ServiceSpec, log: Log, exitReason: () => string | undefined): Promise<void> {
  const started = Date.now();
  const deadline = started + spec.startDeadlineMs;
  let nextProgress = started + PROGRESS_EVERY_MS;
  for (;;) {
    if (await spec.answers()) return;
    const exited = exitReason();
    if (exited !== undefined) throw startFailure(spec, `${spec.name} stopped while starting (${exited})`);
    const now = Date.now();
    if (now >= deadline) throw startFailure(spec, `${spec.name} did not answer within ${seconds(spec.startDeadlineMs)}`);
    if (now >= nextProgress) {
      log(`${spec.name}: not answering yet, ${seconds(now - started)} of ${seconds(spec.startDeadlineMs)}`);
      nextProgress += PROGRESS_EVERY_MS;
    }
    await delay(POLL_MS);
  }
}

function startFailure(spec: ServiceSpec, reason: string): Error {
  const tails = spec.logFiles
    .filter((file) => existsSync(file))
    .map((file) => `--- last ${LOG_TAIL_LINES} lines of ${file}\n${tail(readFileSync(file, 'utf8'), LOG_TAIL_LINES)}`);
  return new Error([reason, ...tails].join('\n'));
}

/** Stops only the process named by our pid file, and only if it still is ours. */
async function stopService(spec: ServiceSpec, log: Log): Promise<void> {
  const pid = runningPid(spec);
  if (pid !== undefined) {
    log(`${spec.name}: stopping pid ${pid}`);
    signal(pid, 'SIGTERM');
    if (!(await waitForExit(pid, spec.cmdlineMarker, STOP_GRACE_MS))) {
      log(`${spec.name}: still running after ${seconds(STOP_GRACE_MS)}, sending SIGKILL`);
      signal(pid, 'SIGKILL');
      await waitForExit(pid, spec.cmdlineMarker, 5_000);
    }
    log(`${spec.name}: stopped`);
  }
  rmSync(spec.pidFile, { force: true });
}

async function waitForExit(pid: number, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isOurProcess(pid, marker)) {
    if (Date.now() >= deadline) return false;
    await delay(POLL_MS);
  }
  return true;
}

function runningPid(spec: ServiceSpec): number | undefined {
  const pid = readPidFile(spec.pidFile);
  return pid !== undefined && isOurProcess(pid, spec.cmdlineMarker) ? pid : undefined;
}

function readPidFile(file: string): number | undefined {
  const pid = Number(readIfExists(file)?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Alive and, where /proc tells, running our command line (a zombie's cmdline is empty: not ours). */
function isOurProcess(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return !existsSync('/proc/self'); // no procfs to ask: trust the pid file
  }
  return cmdline.split('\0').some((arg) => arg.includes(marker));
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function assertPortsFree(spec: ServiceSpec): Promise<void> {
  for (const port of spec.ports) {
    if (!(await portIsFree(port))) {
      throw new Error(
        `${spec.name}: 127.0.0.1:${port} is taken by a process these scripts did not start; ` +
          'stop it, choose other ports (SLUICE_KAFKA_PORT / SLUICE_INFLUX_PORT), or point KAFKA_BROKERS / INFLUX_URL at it',
      );
    }
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Installing what is missing

async function ensureDebianTools(log: Log): Promise<void> {
  const missing = [...new Set(DEBIAN_TOOLS.filter((tool) => findCommand(tool.command) === undefined).map((tool) => tool.pkg))];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages; as root run: apt-get install -y ${missing.join(' ')}`);
  log(`installing Debian packages: ${missing.join(' ')}`);
  const install = (): Promise<{ code: number; output: string }> =>
    runCommand('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
      progress: { log, label: 'apt-get install still running' },
    });
  let result = await install();
  if (result.code !== 0) {
    // A machine fresh from its image often has no package lists yet.
    log('apt-get install failed; running apt-get update once and retrying');
    await runCommand('apt-get', ['update'], { progress: { log, label: 'apt-get update still running' } });
    result = await install();
  }
  if (result.code !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed:\n${tail(result.output, LOG_TAIL_LINES)}`);
}

/** Like `command -v`, plus the sbin dirs a non-login root shell may lack (mosquitto lives in /usr/sbin). */
function findCommand(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers

interface RunOptions {
  env?: Record<string, string>;
  /** For steps that can take minutes: say every so often that it is still going. */
  progress?: { log: Log; label: string };
}

function runCommand(file: string, args: string[], options: RunOptions = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(file, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-64 * 1024);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const progress = options.progress;
    const timer = progress && setInterval(() => progress.log(`${progress.label}, ${seconds(Date.now() - started)}`), 15_000);
    const finish = (code: number, extra = ''): void => {
      if (timer) clearInterval(timer);
      resolve({ code, output: output + extra });
    };
    child.once('error', (error) => finish(127, `\n${file}: ${error.message}`));
    child.once('close', (code) => finish(code ?? 1));
  });
}

async function withLock<T>(file: string, log: Log, action: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10 * 60_000;
  let nextProgress = Date.now() + PROGRESS_EVERY_MS;
  for (;;) {
    try {
      mkdirSync(dirname(file), { recursive: true }); // a concurrent `down --wipe` may have removed it
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readPidFile(file);
    // Another up/down holds it (in this process or another one); a dead holder's lock is stale.
    if (holder !== undefined && !isAlive(holder)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() >= deadline) throw new Error(`another services up/down (pid ${holder}) holds ${file}; remove it if that is wrong`);
    if (Date.now() >= nextProgress) {
      log(`waiting for another services up/down (pid ${holder ?? '?'}) to finish`);
      nextProgress += PROGRESS_EVERY_MS * 2;
    }
    await delay(POLL_MS);
  }
  try {
    return await action();
  } finally {
    rmSync(file, { force: true });
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function logToStderr(line: string): void {
  process.stderr.write(`services: ${line}\n`);
}

// ---------------------------------------------------------------------------------------------------------
// Command line

const USAGE = `usage: npx tsx scripts/services.ts up | down [--wipe] [--only kafka,victoria-metrics] | status`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      const { kafkaBrokers, influxUrl } = await servicesUp();
      process.stdout.write(`KAFKA_BROKERS=${kafkaBrokers} INFLUX_URL=${influxUrl}\n`);
      return 0;
    }
    case 'down': {
      const onlyIndex = rest.indexOf('--only');
      const only = onlyIndex >= 0 ? (rest[onlyIndex + 1] ?? '').split(',').filter(Boolean) : undefined;
      await servicesDown({ wipe: rest.includes('--wipe'), only });
      return 0;
    }
    case 'status': {
      for (const service of servicesStatus()) {
        process.stdout.write(`${service.name}: ${service.pid ? `running (pid ${service.pid}), ${service.summary}` : 'not running'}\n`);
      }
      return 0;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`services: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
