/**
 * Child processes the bench owns: its own VictoriaMetrics (without dedup, so double writes show), Sluice
 * itself (so its resident memory can be read from /proc), and Mosquitto for the baseline. Each is stopped by
 * the handle that started it, never by name. The store and the Sluice roles can also be taken down and brought
 * back on the same ports (and, for the store, with the same data) for fault runs, as a supervisor would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { readFile, mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '../scripts/ports.js';
import { processCpuSeconds } from './cpu.js';

export interface OwnedProcess {
  child: ChildProcess;
  stop(): Promise<void>;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

function stopper(child: ChildProcess, cleanup?: () => Promise<void>): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      // Sluice gives itself 30 s to shut down (and to write a --cpu-prof profile) before it exits on its own.
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      await exited;
      clearTimeout(timer);
    }
    await cleanup?.();
  };
}

/** A process the bench can take down and bring back for a fault. */
export interface Restartable {
  /** Ends it with `signal` (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits until it is gone. */
  halt(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same ports (and data); resolves once it serves. */
  resume(): Promise<void>;
  readonly running: boolean;
  /** CPU seconds used so far by every incarnation (read just before each one is ended). */
  cpuSeconds(): Promise<number | undefined>;
}

/** Ends a child with `signal` and waits for its exit; SIGKILL after `graceMs` if it does not go. */
async function endChild(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL', graceMs = 40_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** CPU seconds across restarts: what ended incarnations used, plus the current one's. */
function cpuAcrossRestarts(current: () => number | undefined): { seconds(): Promise<number | undefined>; retire(): Promise<void> } {
  let retired = 0;
  return {
    async seconds() {
      const now = await processCpuSeconds(current());
      return now === undefined ? (retired > 0 ? retired : undefined) : retired + now;
    },
    async retire() {
      retired += (await processCpuSeconds(current())) ?? 0;
    },
  };
}

export interface BenchStore extends Restartable {
  url: string;
  /** Ends it for good and removes its data. */
  stop(): Promise<void>;
}

export async function startVictoriaMetrics(binary = '/usr/bin/victoria-metrics'): Promise<BenchStore> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-vm-'));
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const cpu = cpuAcrossRestarts(() => child?.pid);
  const launch = async (): Promise<void> => {
    // No -dedup.minScrapeInterval: every double write stays visible, so duplicates can be counted.
    const current = spawn(binary, [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${dir}`, '-search.latencyOffset=0s', '-retentionPeriod=100y', '-loggerLevel=ERROR'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = current;
    await waitFor(async () => (await fetch(`${url}/health`)).ok, 30_000, 'victoria-metrics', current);
  };
  await launch();
  const halt = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    if (!child) return;
    await cpu.retire();
    const current = child;
    child = undefined;
    await endChild(current, signal);
  };
  return {
    url,
    halt,
    resume: launch,
    get running() {
      return child !== undefined;
    },
    cpuSeconds: cpu.seconds,
    async stop() {
      await halt('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface SluiceChild extends OwnedProcess {
  mqttPort: number;
  dashboardPort: number;
  /** Resident memory now, from /proc/<pid>/status (VmRSS), in bytes. */
  rssBytes(): Promise<number | undefined>;
  /** CPU seconds used so far, all threads. */
  cpuSeconds(): Promise<number | undefined>;
  logs: Record<string, unknown>[];
}

export const sluiceBin = fileURLToPath(new URL('../cli/sluice.js', import.meta.url));

export async function startSluiceChild(env: Record<string, string>, nodeArgs: string[] = [], startArgs: string[] = []): Promise<SluiceChild> {
  const child = spawn(process.execPath, [...nodeArgs, sluiceBin, 'start', ...startArgs], {
    env: { ...process.env, MQTT_HOST: '127.0.0.1', MQTT_PORT: '0', MQTT_WS_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sluice did not report "listening" within 60 s')), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      // SLUICE_BENCH_LOG=file keeps the Sluice process's whole log, for looking into a bad run.
      if (process.env.SLUICE_BENCH_LOG) appendFileSync(process.env.SLUICE_BENCH_LOG, `${line}\n`);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (logs.length < 10_000) logs.push(entry);
        if (entry.msg === 'listening') {
          clearTimeout(timer);
          resolve(entry);
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sluice exited with ${code} before listening: ${stderr.join('').slice(-2000)}`));
    });
  });
  return {
    child,
    logs,
    mqttPort: ready.mqttPort as number,
    dashboardPort: ready.dashboardPort as number,
    cpuSeconds: () => processCpuSeconds(child.pid),
    rssBytes: async () => {
      try {
        const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
        const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
        return match ? Number(match[1]) * 1024 : undefined;
      } catch {
        return undefined;
      }
    },
    stop: stopper(child),
  };
}

export async function startMosquitto(binary = '/usr/sbin/mosquitto'): Promise<OwnedProcess & { port: number }> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  // Unlimited queues and in-flight windows: the baseline must not drop messages for a busy subscriber.
  await writeFile(
    config,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_queued_messages 0', 'max_inflight_messages 0', 'log_type error', ''].join('\n'),
  );
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const { connect } = await import('node:net');
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      }),
    15_000,
    'mosquitto',
    child,
  );
  return { child, port, stop: stopper(child, () => rm(dir, { recursive: true, force: true })) };
}

/**
 * One Sluice process (all roles, or the roles in `startArgs`) that a fault can end and start again on the same
 * MQTT and dashboard ports, as a supervisor restarting it would; devices reconnect to the same address.
 */
export interface SluiceRole extends Restartable {
  readonly mqttPort: number;
  readonly dashboardPort: number;
  /** Resident memory of the current process (undefined while it is down). */
  rssBytes(): Promise<number | undefined>;
  /** How often it was started again. */
  readonly restarts: number;
  stop(): Promise<void>;
}

export async function startSluiceRole(env: Record<string, string>, nodeArgs: string[] = [], startArgs: string[] = []): Promise<SluiceRole> {
  let current: SluiceChild | undefined = await startSluiceChild(env, nodeArgs, startArgs);
  const mqttPort = current.mqttPort;
  const dashboardPort = current.dashboardPort;
  const cpu = cpuAcrossRestarts(() => current?.child.pid);
  let restarts = 0;
  const halt = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    if (!current) return;
    await cpu.retire();
    const ending = current;
    current = undefined;
    await endChild(ending.child, signal);
  };
  return {
    mqttPort,
    dashboardPort,
    get running() {
      return current !== undefined;
    },
    get restarts() {
      return restarts;
    },
    halt,
    async resume() {
      if (current) return;
      const ports: Record<string, string> = { DASHBOARD_PORT: String(dashboardPort), ...(mqttPort ? { MQTT_PORT: String(mqttPort) } : {}) };
      current = await startSluiceChild({ ...env, ...ports }, nodeArgs, startArgs);
      restarts++;
    },
    cpuSeconds: cpu.seconds,
    rssBytes: async () => (current ? current.rssBytes() : undefined),
    stop: () => halt('SIGTERM'),
  };
}
