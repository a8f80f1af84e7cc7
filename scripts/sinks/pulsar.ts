/**
 * A private Apache Pulsar (standalone: broker, one bookie and a RocksDB metadata store in one JVM) for the Pulsar
 * sink's tests and `sluice bench --sink pulsar`: free ports, data in a temp dir of its own, run from Maven jars
 * resolved once into the cache, the way scripts/services/kafka.ts runs Kafka.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { freePort } from '../ports.js';
import { LOG_TAIL_LINES, POLL_MS, PROGRESS_EVERY_MS, readIfExists, seconds, tail } from '../services/helpers.js';
import { ensureRuntimeJars } from '../services/maven.js';
import { withLock } from '../services/process.js';
import { loadSettings } from '../services/settings.js';
import type { ForwardedMessage, PrivateSinkServer } from './types.js';

export const PULSAR_VERSION = '4.2.4';
/**
 * pulsar-broker 4.2.4's tree mixes OpenTelemetry 1.56 and 1.62 jars; with both on the class path the broker dies at
 * start with a NoSuchMethodError. Importing one BOM makes Maven pick one version of every OpenTelemetry module.
 */
const OPENTELEMETRY_BOM_VERSION = '1.62.0';
/** pulsar-broker brings SLF4J 2 but no binding: without one the broker log is empty. */
const LOG4J_VERSION = '2.24.3';
const START_DEADLINE_MS = 180_000;
const STOP_DEADLINE_MS = 30_000;

export interface PrivatePulsarOptions {
  /** The target topic is `persistent://public/default/{topicPrefix}.telemetry`; default a random `sinktest-xxxx`. */
  topicPrefix?: string;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
  /** The broker's `maxMessageSize` in bytes (default Pulsar's 5 MiB): lowered, it makes the sink's refusal testable. */
  maxMessageSize?: number;
}

export interface PrivatePulsar extends PrivateSinkServer {
  readonly webUrl: string;
  readonly topic: string;
  /** Where the broker keeps its data and `pulsar.log`. */
  readonly dir: string;
}

export async function startPrivatePulsar(options: PrivatePulsarOptions = {}): Promise<PrivatePulsar> {
  const log = options.log ?? ((line: string) => process.stderr.write(`pulsar: ${line}\n`));
  const libs = await pulsarJars(log);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-pulsar-'));
  const [webPort, brokerPort] = [await freePort(), await freePort()];
  const webUrl = `http://127.0.0.1:${webPort}`;
  const prefix = options.topicPrefix ?? `sinktest-${randomBytes(3).toString('hex')}`;
  const topic = `persistent://public/default/${prefix}.telemetry`;
  const confFile = join(dir, 'standalone.conf');
  const logFile = join(dir, 'pulsar.log');
  const outFile = join(dir, 'pulsar.out');
  writeFileSync(confFile, standaloneConf({ webPort, brokerPort, maxMessageSize: options.maxMessageSize }));
  writeFileSync(join(dir, 'log4j2.properties'), log4jProperties(logFile));
  mkdirSync(join(dir, 'data'), { recursive: true });

  const args = [
    '-Xms128m',
    '-Xmx512m',
    '-XX:MaxDirectMemorySize=512m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    // What bin/pulsar opens: Netty's direct buffers and the load manager's container probe (an exception per start otherwise).
    '--add-opens=java.base/java.nio=ALL-UNNAMED',
    '--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED',
    '--add-opens=java.base/jdk.internal.platform=ALL-UNNAMED',
    '-Dio.netty.tryReflectionSetAccessible=true',
    '-Dlog4j2.shutdownHookEnabled=false',
    `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
    '-cp',
    join(libs, '*'), // the JVM expands the wildcard itself
    'org.apache.pulsar.PulsarStandaloneStarter',
    '--config',
    confFile,
    '--no-functions-worker',
    '--no-stream-storage',
    '--metadata-dir',
    join(dir, 'data', 'metadata'),
    // The bookie takes a free port on its first start and writes it into its cookie; later starts reuse it from
    // there, so the ledgers written before a restart stay readable.
    '--bookkeeper-dir',
    join(dir, 'data', 'bookkeeper'),
  ];

  let child: ChildProcess | undefined;
  let exitReason: string | undefined;

  async function launch(): Promise<void> {
    const out = openSync(outFile, 'a');
    writeSync(out, `\n--- ${new Date().toISOString()} java ${args.join(' ')}\n`);
    exitReason = undefined;
    const started = spawn('java', args, { cwd: dir, stdio: ['ignore', out, out] });
    closeSync(out);
    started.once('error', (error) => (exitReason = error.message));
    started.once('exit', (code, signal) => (exitReason = signal ? `killed by ${signal}` : `exit code ${code}`));
    child = started;
    log(`launched pid ${started.pid} (web ${webUrl}, broker pulsar://127.0.0.1:${brokerPort}, data ${dir})`);
    const since = Date.now();
    let nextProgress = since + PROGRESS_EVERY_MS;
    for (;;) {
      if (await brokerAnswers(webUrl)) break;
      if (exitReason !== undefined) throw startFailure(`pulsar stopped while starting (${exitReason})`, [logFile, outFile]);
      if (Date.now() - since > START_DEADLINE_MS) {
        await kill();
        throw startFailure(`pulsar did not answer within ${seconds(START_DEADLINE_MS)}`, [logFile, outFile]);
      }
      if (Date.now() >= nextProgress) {
        log(`not answering yet, ${seconds(Date.now() - since)} of ${seconds(START_DEADLINE_MS)}`);
        nextProgress += PROGRESS_EVERY_MS;
      }
      await delay(POLL_MS);
    }
    log(`answering after ${seconds(Date.now() - since)}`);
  }

  async function kill(): Promise<void> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await Promise.race([exited, delay(STOP_DEADLINE_MS, undefined, { ref: false })]);
  }

  try {
    await launch();
  } catch (error) {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    sink: 'pulsar',
    env: { PULSAR_URL: webUrl, PULSAR_TOPIC: topic },
    webUrl,
    topic,
    dir,
    async stop() {
      await kill();
      log('killed (SIGKILL), data kept');
    },
    start: launch,
    consume: (onMessage) => readTopic(webUrl, topic, onMessage),
    async close() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The jars of pulsar-broker and its dependencies (about 330), resolved once into the cache; returns their dir. */
export async function pulsarJars(log: (line: string) => void): Promise<string> {
  const { cacheDir } = loadSettings();
  const libs = join(cacheDir, 'pulsar-libs');
  const artifacts = pulsarArtifacts();
  // Skips the lock when the jars are there (ensureRuntimeJars checks the same marker again inside it).
  if (readIfExists(join(libs, '.complete')) === artifacts.join('\n')) return libs;
  // Two test files starting a private Pulsar at once must not both write the dir.
  return withLock(join(cacheDir, 'pulsar-libs.lock'), (line) => log(line), async () => {
    await ensureRuntimeJars({ server: 'Pulsar', artifacts, libs, pomDir: join(cacheDir, 'maven-pulsar'), size: 'about 330 jars, 300 MB', log: (line: string) => log(line) });
    return libs;
  });
}

function pulsarArtifacts(): string[] {
  return [
    `org.apache.pulsar:pulsar-broker:${PULSAR_VERSION}`,
    `org.apache.logging.log4j:log4j-slf4j2-impl:${LOG4J_VERSION}`,
    `org.apache.logging.log4j:log4j-core:${LOG4J_VERSION}`,
    `bom io.opentelemetry:opentelemetry-bom:${OPENTELEMETRY_BOM_VERSION}`,
  ];
}

export function standaloneConf(options: { webPort: number; brokerPort: number; maxMessageSize?: number }): string {
  return `# Generated by scripts/sinks/pulsar.ts on every private start.
clusterName=standalone
bindAddress=127.0.0.1
advertisedAddress=127.0.0.1
brokerServicePort=${options.brokerPort}
webServicePort=${options.webPort}
# The sink speaks the WebSocket API on the web port.
webSocketServiceEnabled=true
functionsWorkerEnabled=false
${options.maxMessageSize === undefined ? '' : `maxMessageSize=${options.maxMessageSize}\n`}managedLedgerDefaultEnsembleSize=1
managedLedgerDefaultWriteQuorum=1
managedLedgerDefaultAckQuorum=1
# The sink's topic is created by its first producer; one non-partitioned topic keeps every device's order.
allowAutoTopicCreation=true
allowAutoTopicCreationType=non-partitioned
# A test's topic has no subscription until it is read: keep it (and its messages) however long that takes.
brokerDeleteInactiveTopicsEnabled=false
authenticationEnabled=false
authorizationEnabled=false
`;
}

function log4jProperties(logFile: string): string {
  return `# Generated by scripts/sinks/pulsar.ts.
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${logFile}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.standalone.name = org.apache.pulsar.PulsarStandalone
logger.standalone.level = info
logger.service.name = org.apache.pulsar.broker.PulsarService
logger.service.level = info
`;
}

function startFailure(reason: string, files: string[]): Error {
  const tails = files
    .filter((file) => existsSync(file))
    .map((file) => `--- last ${LOG_TAIL_LINES} lines of ${file}\n${tail(readFileSync(file, 'utf8'), LOG_TAIL_LINES)}`);
  return new Error([reason, ...tails].join('\n'));
}

/**
 * The broker's own health check (it writes and reads a heartbeat topic), and the namespace of the target topic:
 * standalone creates `public/default` only after the broker answers, and a producer before it gets "Namespace not found".
 */
async function brokerAnswers(webUrl: string): Promise<boolean> {
  try {
    const health = await fetch(`${webUrl}/admin/v2/brokers/health`, { signal: AbortSignal.timeout(5_000) });
    if (!health.ok || (await health.text()).trim() !== 'ok') return false;
    const namespaces = await fetch(`${webUrl}/admin/v2/namespaces/public`, { signal: AbortSignal.timeout(5_000) });
    return namespaces.ok && ((await namespaces.json()) as string[]).includes('public/default');
  } catch {
    return false;
  }
}

interface ReaderMessage {
  messageId: string;
  payload: string;
  key?: string;
  properties?: Record<string, string>;
}

/**
 * Reads `topic` from its earliest message through the WebSocket reader API, then live. When the connection drops
 * (the broker was stopped) it reconnects once the broker answers again, after the last message it saw, until closed.
 */
async function readTopic(webUrl: string, topic: string, onMessage: (message: ForwardedMessage) => void): Promise<{ close(): Promise<void> }> {
  const path = topic.replace('://', '/');
  let lastId: string | undefined;
  let closed = false;
  let socket: WebSocket | undefined;

  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const start = lastId === undefined ? 'earliest' : encodeURIComponent(lastId);
      const ws = new WebSocket(`${webUrl.replace(/^http/, 'ws')}/ws/v2/reader/${path}?messageId=${start}`, { handshakeTimeout: 10_000 });
      socket = ws;
      let opened = false;
      ws.once('open', () => {
        opened = true;
        resolve();
      });
      ws.on('error', reject); // after 'open' a no-op: 'close' follows
      ws.on('message', (data) => {
        const message = JSON.parse(String(data)) as ReaderMessage;
        lastId = message.messageId;
        // The reader stops after its pending window unless each message is acknowledged.
        ws.send(JSON.stringify({ messageId: message.messageId }));
        onMessage({ body: Buffer.from(message.payload, 'base64'), key: message.key, id: message.properties?.id, arrivedAt: Date.now() });
      });
      ws.once('close', () => {
        // Only a reader that was up starts the loop; a failed attempt is retried by the loop that made it.
        if (opened && !closed) void reconnect();
      });
    });

  async function reconnect(): Promise<void> {
    while (!closed) {
      await delay(1_000);
      // Each reader the broker cannot create yet holds one of its few HTTP threads for seconds: a reader that
      // knocked every second while the broker restarts starved its own start-up. Wait until it answers.
      if (closed || !(await brokerAnswers(webUrl))) continue;
      try {
        await open();
        return;
      } catch {
        // the broker is still down: try again
      }
    }
  }

  await open();
  return {
    async close() {
      closed = true;
      socket?.terminate();
    },
  };
}
