#!/usr/bin/env node
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type Config } from '../core/config.js';
import { createLogger } from '../core/logger.js';
import { isSluiceError } from '../core/errors.js';
import { createDeviceRegistry } from '../gateway/registry.js';
import { ROLES, startSluice, type Role } from './start.js';

const program = new Command();
program.name('sluice').description('IoT sensor ingestion gateway: MQTT in, Kafka in the middle, InfluxDB and a live dashboard out');

function configOrExit(): Readonly<Config> {
  try {
    return loadConfig();
  } catch (error) {
    console.error(`sluice: ${(error as Error).message}`);
    process.exit(2);
  }
}

function parseRoles(value: string): Set<Role> {
  const roles = value.split(',').map((r) => r.trim()).filter(Boolean);
  for (const role of roles) {
    if (!(ROLES as readonly string[]).includes(role)) throw new InvalidArgumentError(`unknown role "${role}" (roles: ${ROLES.join(', ')})`);
  }
  return new Set(roles as Role[]);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

program
  .command('start')
  .description('run the pipeline; all roles in one process by default')
  .option('--roles <list>', `comma-separated roles (${ROLES.join(',')})`, parseRoles, new Set(ROLES))
  .action(async (options: { roles: Set<Role> }) => {
    const config = configOrExit();
    const logger = createLogger(config.LOG_LEVEL);
    const log = logger.child({ module: 'main' });
    let running: Awaited<ReturnType<typeof startSluice>>;
    try {
      running = await startSluice(config, options.roles, logger);
    } catch (error) {
      log.fatal({ err: error, code: isSluiceError(error) ? error.code : undefined }, 'start-up failed');
      process.exit(1);
    }
    // One structured line with every bound port, for scripts and tests that start Sluice on port 0.
    log.info(
      { mode: config.mode, mqttPort: running.mqttPort, wsPort: running.wsPort, tlsPort: running.tlsPort, dashboardPort: running.dashboardPort },
      'listening',
    );
    const host = (h: string) => (h === '0.0.0.0' || h === '::' ? 'localhost' : h);
    if (running.mqttPort !== undefined) {
      log.info(`devices connect to mqtt://${host(config.MQTT_HOST)}:${running.mqttPort}` + (running.wsPort !== undefined ? ` and ws://${host(config.MQTT_HOST)}:${running.wsPort}/mqtt` : '') + (running.tlsPort !== undefined ? ` and mqtts://${host(config.MQTT_HOST)}:${running.tlsPort}` : ''));
    }
    if (running.dashboardPort !== undefined) {
      const base = `http://${host(config.DASHBOARD_HOST)}:${running.dashboardPort}`;
      log.info(`dashboard API at ${base}/api/devices (Authorization: Bearer <token>), health at ${base}/healthz`);
      if (running.generatedToken) {
        // Printed once: only its hash is kept in DATA_DIR.
        log.info(`generated dashboard token (shown once, stored hashed): ${running.generatedToken}`);
        log.info(`open ${base}/?token=${running.generatedToken}`);
      }
    }
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting at once');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        log.error('shutdown deadline passed: exiting');
        process.exit(1);
      }, 30_000);
      deadline.unref();
      running.close().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

const devices = program.command('devices').description('manage device identities (stored in DATA_DIR, secrets only as hashes)');

devices
  .command('add')
  .argument('[id]', 'device id (or use --count with --prefix)')
  .option('--count <n>', 'create N devices named <prefix><n>', positiveInt)
  .option('--prefix <p>', 'prefix for --count', 'device-')
  .option('--out <file>', 'write {"<id>": {"secret": "…"}} to this file instead of printing')
  .description('register devices and print (or write) their secrets once')
  .action(async (id: string | undefined, options: { count?: number; prefix: string; out?: string }) => {
    const config = configOrExit();
    const ids = options.count
      ? Array.from({ length: options.count }, (_, i) => `${options.prefix}${String(i + 1).padStart(String(options.count).length, '0')}`)
      : id
        ? [id]
        : [];
    if (ids.length === 0) program.error('give a device id, or --count N');
    const created = await createDeviceRegistry(config.DATA_DIR).add(ids);
    const credentials = Object.fromEntries(created.map((c) => [c.id, { secret: c.secret }]));
    if (options.out) {
      await writeFile(options.out, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
      console.error(`registered ${created.length} device(s); secrets written to ${options.out}`);
    } else {
      for (const c of created) console.log(`${c.id}\t${c.secret}`);
    }
  });

devices
  .command('list')
  .description('list registered devices')
  .action(async () => {
    const config = configOrExit();
    for (const device of await createDeviceRegistry(config.DATA_DIR).list()) console.log(`${device.id}\t${device.createdAt}`);
  });

devices
  .command('remove')
  .argument('<id>')
  .description('remove a device; a connected gateway refuses its next connection')
  .action(async (id: string) => {
    const config = configOrExit();
    if (!(await createDeviceRegistry(config.DATA_DIR).remove(id))) program.error(`no device "${id}"`);
  });

await program.parseAsync(process.argv);
