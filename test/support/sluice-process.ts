import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';

const execFileAsync = promisify(execFile);
export const projectRoot = resolve(import.meta.dirname, '..', '..');
export const sluiceBin = join(projectRoot, 'dist', 'cli', 'sluice.js');

function assertBuilt(): void {
  if (!existsSync(sluiceBin)) throw new Error(`${sluiceBin} is missing: run "npm run build" first (npm test does)`);
}

export async function tempDataDir(prefix = 'sluice-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** The environment without Kafka and the store: `sluice` in embedded mode, whose registry is DATA_DIR/devices.json. */
function embeddedEnv(): NodeJS.ProcessEnv {
  const { KAFKA_BROKERS: _kafka, INFLUX_URL: _store, ...rest } = process.env;
  return rest;
}

/**
 * Registers devices through the real CLI in `DATA_DIR/devices.json` and returns their secrets. A production process
 * started on that DATA_DIR by startSluiceProcess gets them through `sluice devices import` into its Kafka registry,
 * as an operator moving a registry from a file would.
 */
export async function addDevices(dataDir: string, ids: string[], options: { chosenSecret?: string } = {}): Promise<Record<string, string>> {
  assertBuilt();
  const secrets: Record<string, string> = {};
  for (const id of ids) {
    const chosen = options.chosenSecret === undefined ? [] : ['--secret', options.chosenSecret];
    const { stdout } = await execFileAsync(process.execPath, [sluiceBin, 'devices', 'add', id, ...chosen], { env: { ...embeddedEnv(), DATA_DIR: dataDir } });
    const [printedId, secret] = stdout.trim().split('\t');
    if (printedId !== id || !secret) throw new Error(`unexpected "devices add" output: ${stdout}`);
    secrets[id] = secret;
  }
  return secrets;
}

/** `sluice devices import DATA_DIR/devices.json` into the Kafka registry of a production process about to start (see addDevices). */
async function importFileRegistry(env: Record<string, string>): Promise<void> {
  const merged = { ...process.env, ...env };
  if (!merged.KAFKA_BROKERS || !merged.DATA_DIR || !existsSync(join(merged.DATA_DIR, 'devices.json'))) return;
  await execFileAsync(process.execPath, [sluiceBin, 'devices', 'import', join(merged.DATA_DIR, 'devices.json')], { env: merged });
}

export interface SluiceProcess {
  mqttPort: number;
  wsPort?: number;
  dashboardPort: number;
  mode: string;
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `sluice start` as its own process on port 0 and waits for its "listening" line,
 * which carries the ports it bound.
 */
export async function startSluiceProcess(env: Record<string, string>, options: { timeoutMs?: number; args?: string[] } = {}): Promise<SluiceProcess> {
  assertBuilt();
  await importFileRegistry(env);
  const child = spawn(process.execPath, [sluiceBin, 'start', ...(options.args ?? [])], {
    env: { ...process.env, MQTT_HOST: '127.0.0.1', MQTT_PORT: '0', MQTT_WS_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const listening = new Promise<Record<string, unknown>>((resolveListening, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'listening') resolveListening(entry);
    });
    void exited.then((code) => reject(new Error(`sluice exited with ${code} before listening:\n${stderr.join('')}\n${logs.map((l) => JSON.stringify(l)).join('\n')}`)));
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`sluice did not report "listening" within ${timeoutMs} ms`)), timeoutMs);
  });
  let ready: Record<string, unknown>;
  try {
    ready = await Promise.race([listening, timeout]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    mqttPort: ready.mqttPort as number,
    ...(typeof ready.wsPort === 'number' ? { wsPort: ready.wsPort } : {}),
    dashboardPort: ready.dashboardPort as number,
    mode: ready.mode as string,
    child,
    logs,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}
