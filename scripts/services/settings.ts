/** Where the services live and listen (from the environment), and what each service is to the lifecycle. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Log } from './helpers.js';

export type ServiceName = 'kafka' | 'victoria-metrics';

export const SERVICE_NAMES: readonly ServiceName[] = ['kafka', 'victoria-metrics'];

export interface Settings {
  cacheDir: string;
  runDir: string;
  kafkaVersion: string;
  kafkaPort: number;
  controllerPort: number;
  influxPort: number;
}

export interface ServiceSpec {
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

export function loadSettings(): Settings {
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

export function endpoints(settings: Settings): { kafkaBrokers: string; influxUrl: string } {
  return { kafkaBrokers: `127.0.0.1:${settings.kafkaPort}`, influxUrl: `http://127.0.0.1:${settings.influxPort}` };
}

export function lockFile(settings: Settings): string {
  return join(settings.runDir, '.services.lock');
}
