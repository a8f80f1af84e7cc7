/**
 * Installs (when missing), starts, health-checks and stops the real services the tests use (docs/contracts.md §15):
 * a single-node KRaft Apache Kafka run from Maven jars, and Debian's VictoriaMetrics as the InfluxDB-compatible store.
 * Mosquitto's broker and clients are installed too, but not started.
 *
 *   npx tsx scripts/services.ts up        stdout: KAFKA_BROKERS=… INFLUX_URL=…  (progress goes to stderr)
 *   npx tsx scripts/services.ts down [--wipe] [--only kafka,victoria-metrics]
 *   npx tsx scripts/services.ts status
 *   npx tsx scripts/services.ts jars        resolves the Kafka and Pulsar jars with Maven (CI does it before the tests)
 *
 * Environment: SLUICE_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/sluice), SLUICE_KAFKA_PORT (19092; the
 * KRaft controller takes the next port), SLUICE_INFLUX_PORT (18428), SLUICE_KAFKA_VERSION (4.1.1).
 *
 * Everything lives in the cache dir, outside git: `kafka-libs/` (jars, kept across runs), `maven/pom.xml`,
 * and `run/` (pid files, logs, data; `down --wipe` removes it).
 *
 * This file is the command line and the API the tests use; the pieces are in services/: settings.ts (ports, cache
 * dir, what a service is), kafka.ts, victoria-metrics.ts, process.ts (start, health-check, stop, the lock),
 * debian.ts (installing what is missing) and helpers.ts.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureDebianTools } from './services/debian.js';
import { logToStderr, type Log } from './services/helpers.js';
import { ensureKafkaJars, kafkaSpec } from './services/kafka.js';
import { pulsarJars } from './sinks/pulsar.js';
import { assertPortsFree, ensureRunning, runningPid, stopService, withLock } from './services/process.js';
import { endpoints, loadSettings, lockFile, SERVICE_NAMES, type ServiceName, type ServiceSpec, type Settings } from './services/settings.js';
import { victoriaMetricsSpec } from './services/victoria-metrics.js';

export type { ServiceName };

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

function serviceSpecs(settings: Settings): ServiceSpec[] {
  return [kafkaSpec(settings), victoriaMetricsSpec(settings)];
}

// ---------------------------------------------------------------------------------------------------------
// Command line

const USAGE = `usage: npx tsx scripts/services.ts up | down [--wipe] [--only kafka,victoria-metrics] | status | jars`;

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
    case 'jars': {
      // The Pulsar jars (about 300 MB) would otherwise be fetched inside the first Pulsar test's start-up.
      process.stdout.write(`${await kafkaJars()}\n${await pulsarJars((line) => logToStderr(line))}\n`);
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
      logToStderr('failed', { err: error });
      process.exitCode = 1;
    },
  );
}
