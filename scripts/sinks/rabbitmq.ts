/**
 * A RabbitMQ server of its own (Debian's `rabbitmq-server`, docs/contracts.md §15) for the RabbitMQ sink's tests and
 * `sluice bench --sink rabbitmq`: its own node name, ports, epmd and data directory, so stopping it never touches a
 * server (or the system service the package may have set up) that anything else uses.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import amqp from 'amqplib';
import { ensureDebianTools, findCommand } from '../services/debian.js';
import { LOG_TAIL_LINES, POLL_MS, PROGRESS_EVERY_MS, readIfExists, runCommand, seconds, tail } from '../services/helpers.js';
import { freePort, portIsFree } from '../ports.js';
import type { ForwardedMessage, PrivateSinkServer } from './types.js';

export interface PrivateRabbitmqOptions {
  /** The target (exchange and queue `{topicPrefix}.telemetry`); default a random `sinktest-xxxx`. */
  topicPrefix?: string;
  log?: (line: string) => void;
  /** rabbitmq.conf `max_message_size`: a larger message closes the publishing channel (PRECONDITION_FAILED). */
  maxMessageBytes?: number;
  /** The queue type the env asks the sink to declare, and `consume` declares the same. Default classic. */
  queueType?: 'classic' | 'quorum' | 'stream';
  /** How long a start may take before it fails with the log's tail. Default 90 s (a slow machine; ~6 s usual). */
  startDeadlineMs?: number;
}

export interface PrivateRabbitmq extends PrivateSinkServer {
  readonly sink: 'rabbitmq';
  /** amqp://guest:guest@127.0.0.1:port */
  readonly url: string;
  readonly exchange: string;
  readonly queue: string;
  /** Data, logs and config. */
  readonly dir: string;
  /** Runs `rabbitmqctl -n <node> …args` against this node, e.g. to raise a resource alarm in a test. */
  ctl(args: string[]): Promise<{ code: number; output: string }>;
}

/** Debian installs the scripts here; /usr/sbin/rabbitmq-server is a wrapper that switches to the `rabbitmq` user. */
const SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export async function startPrivateRabbitmq(options: PrivateRabbitmqOptions = {}): Promise<PrivateRabbitmq> {
  const log = options.log ?? ((line: string) => process.stderr.write(`rabbitmq: ${line}\n`));
  await ensureServerInstalled(log);
  const prefix = options.topicPrefix ?? `sinktest-${randomBytes(3).toString('hex')}`;
  const queueType = options.queueType ?? 'classic';
  const dir = await mkdtemp(join(tmpdir(), 'sluice-rabbitmq-'));
  const [port, distPort, epmdPort, ctlPort] = await stablePorts(4);
  const nodeName = `sluice-${port}@localhost`;
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const target = `${prefix}.telemetry`;
  const outFile = join(dir, 'server.out');
  const logFile = join(dir, 'log', `${nodeName}.log`);
  const deadlineMs = options.startDeadlineMs ?? 90_000;

  await mkdir(join(dir, 'log'), { recursive: true });
  await mkdir(join(dir, 'home'), { recursive: true });
  await writeFile(
    join(dir, 'rabbitmq.conf'),
    [
      'loopback_users = none',
      `listeners.tcp.1 = 127.0.0.1:${port}`,
      // A test machine's disk is often fuller than the default 50 MB margin likes; a disk alarm would block publishers.
      'disk_free_limit.absolute = 10MB',
      'log.console = false',
      'log.file.level = info',
      ...(options.maxMessageBytes !== undefined ? [`max_message_size = ${options.maxMessageBytes}`] : []),
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'enabled_plugins'), '[].\n');
  await writeFile(join(dir, 'rabbitmq-env.conf'), '');

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(dir, 'home'), // the Erlang cookie
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    // An epmd of its own: the node's name never meets (or outlives in) a shared one.
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    // rabbitmqctl's own distribution port; its default (dist port + 10000) can pass 65535.
    RABBITMQ_CTL_DIST_PORT_MIN: String(ctlPort),
    RABBITMQ_CTL_DIST_PORT_MAX: String(ctlPort),
  };

  let server: { pid: number; exitReason: () => string | undefined } | undefined;

  const launch = (): { pid: number; exitReason: () => string | undefined } => {
    const out = openSync(outFile, 'a');
    writeSync(out, `\n--- ${new Date().toISOString()} ${SERVER_SCRIPT} (${nodeName})\n`);
    // Its own process group: stop() kills the script, erl, beam and their helpers at once, as a crash would.
    const child = spawn(SERVER_SCRIPT, [], { cwd: dir, env, detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    let exitReason: string | undefined;
    child.once('error', (error) => (exitReason = error.message));
    child.once('exit', (code, signal) => (exitReason = signal ? `killed by ${signal}` : `exit code ${code}`));
    child.unref();
    if (child.pid === undefined) throw new Error(`rabbitmq: could not start ${SERVER_SCRIPT}`);
    return { pid: child.pid, exitReason: () => exitReason };
  };

  const failure = (reason: string): Error => {
    const tails = [outFile, logFile]
      .filter((file) => existsSync(file))
      .map((file) => `--- last ${LOG_TAIL_LINES} lines of ${file}\n${tail(readFileSync(file, 'utf8'), LOG_TAIL_LINES)}`);
    return new Error([reason, ...tails].join('\n'));
  };

  const start = async (): Promise<void> => {
    if (server && groupAlive(server.pid)) return;
    const started = Date.now();
    const launched = launch();
    server = launched;
    log(`launched pid ${launched.pid} (${nodeName}), waiting until it answers on ${port}`);
    let nextProgress = started + PROGRESS_EVERY_MS;
    for (;;) {
      if (await amqpAnswers(url)) break;
      const exited = launched.exitReason();
      if (exited !== undefined) {
        await killGroup(launched.pid);
        throw failure(`rabbitmq stopped while starting (${exited})`);
      }
      const now = Date.now();
      if (now - started >= deadlineMs) {
        await killGroup(launched.pid);
        throw failure(`rabbitmq did not answer within ${seconds(deadlineMs)}`);
      }
      if (now >= nextProgress) {
        log(`not answering yet, ${seconds(now - started)} of ${seconds(deadlineMs)}`);
        nextProgress += PROGRESS_EVERY_MS;
      }
      await delay(POLL_MS);
    }
    log(`started in ${seconds(Date.now() - started)}: ${url}, data and logs in ${dir}`);
  };

  const stop = async (): Promise<void> => {
    if (!server) return;
    const { pid } = server;
    server = undefined;
    await killGroup(pid);
    // Killed means its socket is gone too, but say so only once nothing answers there.
    const deadline = Date.now() + 30_000;
    while (await amqpAnswers(url)) {
      if (Date.now() > deadline) throw new Error(`rabbitmq: still answers on ${port} after SIGKILL of process group ${pid}`);
      await delay(POLL_MS);
    }
    log(`killed (SIGKILL, process group ${pid}); data kept in ${dir}`);
  };

  const consume = async (onMessage: (message: ForwardedMessage) => void): Promise<{ close(): Promise<void> }> => {
    const connection = await amqp.connect(url, { timeout: 10_000 });
    connection.on('error', () => undefined); // a stop() under it: the reader just ends
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    // The same declarations as the sink's, so reading may start before the first write.
    await channel.assertExchange(target, 'topic', { durable: true });
    await channel.assertQueue(target, { durable: true, arguments: { 'x-queue-type': queueType } });
    await channel.bindQueue(target, target, '#');
    // Streams are read from their first offset. Classic and quorum queues are read without acknowledging: every
    // message stays in the queue (unacknowledged), so a later consume, or one after a restart, reads it all again
    // from the beginning.
    await channel.prefetch(queueType === 'stream' ? 1000 : 0);
    await channel.consume(
      target,
      (message) => {
        if (!message) return;
        const id = message.properties.messageId as string | undefined;
        onMessage({ body: message.content, key: message.fields.routingKey, ...(id !== undefined ? { id } : {}), arrivedAt: Date.now() });
        if (queueType === 'stream') channel.ack(message);
      },
      { noAck: false, ...(queueType === 'stream' ? { arguments: { 'x-stream-offset': 'first' } } : {}) },
    );
    return {
      close: async () => {
        await connection.close().catch(() => undefined);
      },
    };
  };

  const close = async (): Promise<void> => {
    await stop();
    // The epmd this node started daemonized itself out of the process group; no node is registered with it now.
    const epmd = findCommand('epmd');
    if (epmd) await runCommand(epmd, ['-port', String(epmdPort), '-kill']);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await start();
  } catch (error) {
    const epmd = findCommand('epmd');
    if (epmd) await runCommand(epmd, ['-port', String(epmdPort), '-kill']);
    throw error;
  }

  return {
    sink: 'rabbitmq',
    url,
    exchange: target,
    queue: target,
    dir,
    env: {
      RABBITMQ_URL: url,
      RABBITMQ_EXCHANGE: target,
      RABBITMQ_QUEUE: target,
      RABBITMQ_QUEUE_TYPE: queueType,
    },
    stop,
    start,
    consume,
    close,
    ctl: (args) => runCommand('/usr/lib/rabbitmq/bin/rabbitmqctl', ['-n', nodeName, ...args], { env: env as Record<string, string> }),
  };
}

/**
 * Free ports below the kernel's ephemeral range. start() after stop() needs the same ports again, and a port from
 * the ephemeral range (what freePort hands out) can be taken meanwhile by any outgoing connection on the machine —
 * seen here: the node failed to restart with `dist_port_already_used`. Below the range only an explicit bind takes
 * one. Falls back to freePort when no such range is known or nothing free is found.
 */
async function stablePorts(count: number): Promise<number[]> {
  const range = /^(\d+)\s+(\d+)/.exec(readIfExists('/proc/sys/net/ipv4/ip_local_port_range') ?? '');
  const ephemeralLow = range ? Number(range[1]) : 0;
  const low = 20_000;
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && ephemeralLow - low > 1_000 && tries < 200; tries++) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    if (!ports.includes(port) && (await portIsFree(port))) ports.push(port);
  }
  while (ports.length < count) ports.push(await freePort());
  return ports;
}

async function ensureServerInstalled(log: (line: string) => void): Promise<void> {
  if (existsSync(SERVER_SCRIPT)) return;
  await ensureDebianTools((line, fields) => log(fields?.err === undefined ? line : `${line}: ${String(fields.err)}`));
  if (!existsSync(SERVER_SCRIPT)) throw new Error(`rabbitmq: ${SERVER_SCRIPT} is missing after installing rabbitmq-server`);
}

async function amqpAnswers(url: string): Promise<boolean> {
  try {
    const connection = await amqp.connect(url, { timeout: 2_000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a process of group `pgid` still runs. Read from /proc because a killed process can stay a zombie for a
 * while (in a container nobody may reap the orphans), and a zombie holds no port and no file.
 */
function groupAlive(pgid: number): boolean {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so read after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/** SIGKILL to the whole process group (script, erl, beam.smp, erl_child_setup), then waits until it is gone. */
async function killGroup(pid: number): Promise<void> {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
  const deadline = Date.now() + 15_000;
  while (groupAlive(pid) && Date.now() < deadline) await delay(50);
}
