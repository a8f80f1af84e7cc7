import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Command, Option } from 'commander';
import { createLogger, type Logger } from '../../core/logger.js';
import { rulesFilePath } from '../../core/config.js';
import { isSluiceError } from '../../core/errors.js';
import type { Config } from '../../core/config.js';
import { openRegistryAlone } from '../registry.js';
import { configOrExit, positiveInt } from '../common.js';
import { exitOnSignals } from '../shutdown.js';
import { defaultRoles, startSluice } from '../start.js';
import { createFleet } from '../../simulators/fleet.js';
import { getProfile, PROFILE_NAMES } from '../../simulators/profiles.js';
import { DOCUMENT_FORMATS, type DocumentFormat } from '../../core/reading.js';
import { NO_FAULTS } from '../../simulators/faults.js';
import type { DeviceCredentials } from '../../simulators/fleet.js';

/**
 * Demo devices live in the registry like any other (only hashes); their secrets are kept next to it in
 * DATA_DIR/demo-credentials.json so a restarted demo reconnects the same devices. A device whose secret is
 * not there any more is registered again with a fresh one.
 */
async function demoDevices(config: Readonly<Config>, logger: Logger, count: number): Promise<DeviceCredentials[]> {
  const path = join(config.DATA_DIR, 'demo-credentials.json');
  let known: Record<string, { secret: string }> = {};
  try {
    known = JSON.parse(await readFile(path, 'utf8')) as Record<string, { secret: string }>;
  } catch {
    // first demo in this DATA_DIR
  }
  // The registry the started gateway reads (the file, or {prefix}.devices with Kafka): a device added here is
  // seen by the running gateway within its follow delay, before the fleet connects after a reconnect at worst.
  const ids = Array.from({ length: count }, (_, i) => `demo-${String(i + 1).padStart(2, '0')}`);
  const registry = await openRegistryAlone(config, logger);
  try {
    const missing = ids.filter((id) => !registry.get(id) || !known[id]);
    if (missing.length > 0) {
      for (const created of await registry.add(missing)) known[created.id] = { secret: created.secret };
      await writeFile(path, `${JSON.stringify(known, null, 2)}\n`, { mode: 0o600 });
    }
  } finally {
    await registry.close();
  }
  return ids.map((id) => ({ id, secret: known[id]!.secret }));
}

/**
 * The demo starts with the example rules (rules/examples/demo-rules.yaml, shipped beside dist/) when there is no
 * rules file yet, so the Alerts view fills within a minute of the first start. An existing file is left alone.
 */
async function seedDemoRules(path: string, log: Logger): Promise<void> {
  if (await access(path).then(() => true, () => false)) return;
  // From the sources (cli/commands/) and from the build (dist/cli/commands/) the examples are at the project root.
  for (const candidate of ['../../rules/examples/demo-rules.yaml', '../../../rules/examples/demo-rules.yaml']) {
    const example = await readFile(new URL(candidate, import.meta.url), 'utf8').catch(() => undefined);
    if (example === undefined) continue;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, example);
    log.info({ path }, 'wrote the example rules for the demo fleet; edit the file to change them, the change applies at once');
    return;
  }
  log.warn('the example rules were not found: the demo runs without rules');
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start Sluice with a built-in simulated fleet, so the dashboard shows live data at once')
    .option('--devices <n>', 'simulated devices', positiveInt, 20)
    .option('--rate <r>', 'messages per second per device', Number, 1)
    .addOption(new Option('--profile <name>', 'signal profile').choices(PROFILE_NAMES).default('mixed'))
    .addOption(new Option('--format <f>', 'payload format').choices(DOCUMENT_FORMATS).default('json'))
    .action(async (options: { devices: number; rate: number; profile: string; format: DocumentFormat }) => {
      const config = configOrExit();
      const logger = createLogger(config.LOG_LEVEL);
      const log = logger.child({ module: 'demo' });
      let running: Awaited<ReturnType<typeof startSluice>>;
      try {
        await seedDemoRules(rulesFilePath(config), log);
        running = await startSluice(config, defaultRoles(config), logger);
      } catch (error) {
        log.fatal({ err: error, code: isSluiceError(error) ? error.code : undefined }, 'start-up failed');
        process.exit(1);
      }
      log.info({ mode: config.mode, mqttPort: running.mqttPort, wsPort: running.wsPort, dashboardPort: running.dashboardPort }, 'listening');
      const host = (h: string) => (h === '0.0.0.0' || h === '::' ? 'localhost' : h);
      const base = `http://${host(config.DASHBOARD_HOST)}:${running.dashboardPort}`;
      if (running.generatedToken) {
        log.info(`generated dashboard token (shown once, stored hashed): ${running.generatedToken}`);
        log.info(`open ${base}/?token=${running.generatedToken}`);
      } else {
        log.info(`dashboard at ${base}/ (use your dashboard token)`);
      }

      const devices = await demoDevices(config, log, options.devices);
      const mqttHost = config.MQTT_HOST === '0.0.0.0' || config.MQTT_HOST === '::' ? '127.0.0.1' : config.MQTT_HOST;
      const fleet = createFleet({
        url: `mqtt://${mqttHost}:${running.mqttPort}`,
        devices,
        profile: getProfile(options.profile),
        format: options.format,
        qos: 1,
        rate: options.rate,
        seed: 1,
        faults: NO_FAULTS,
        oversizedBytes: config.MAX_PAYLOAD_BYTES + 1024,
        clockSkewMs: 0,
      });
      await fleet.start();
      log.info({ devices: devices.length, profile: options.profile, rate: options.rate }, 'demo fleet connected and publishing');
      const report = setInterval(() => {
        const stats = fleet.stats();
        log.info({ connected: stats.connected, sent: stats.sent, acked: stats.acked, errors: stats.errors }, 'demo fleet');
      }, 30_000);
      report.unref();

      exitOnSignals(log, async () => {
        clearInterval(report);
        await fleet.stop(2000);
        await running.close();
      });
    });
}
