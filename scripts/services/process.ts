/**
 * The lifecycle of a service's process: started detached (it outlives the script), health-checked until it
 * answers, stopped by its pid file only while that pid still runs our command line; and the lock that keeps two
 * `up`/`down` from running at once.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { portIsFree } from '../ports.js';
import { LOG_TAIL_LINES, POLL_MS, PROGRESS_EVERY_MS, readIfExists, seconds, tail, type Log } from './helpers.js';
import type { ServiceSpec } from './settings.js';

const STOP_GRACE_MS = 20_000;

export async function ensureRunning(spec: ServiceSpec, log: Log): Promise<'reused' | 'started'> {
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
  child.once('error', (error) => {
    exitReason = error.message;
    log(`${spec.name}: could not run ${file}`, { err: error });
  });
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
export async function stopService(spec: ServiceSpec, log: Log): Promise<void> {
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

export function runningPid(spec: ServiceSpec): number | undefined {
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

export async function assertPortsFree(spec: ServiceSpec): Promise<void> {
  for (const port of spec.ports) {
    if (!(await portIsFree(port))) {
      throw new Error(
        `${spec.name}: 127.0.0.1:${port} is taken by a process these scripts did not start; ` +
          'stop it, choose other ports (SLUICE_KAFKA_PORT / SLUICE_INFLUX_PORT), or point KAFKA_BROKERS / INFLUX_URL at it',
      );
    }
  }
}

export async function withLock<T>(file: string, log: Log, action: () => Promise<T>): Promise<T> {
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
