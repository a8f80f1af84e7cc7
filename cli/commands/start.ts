import { type Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../../core/logger.js';
import { isSluiceError } from '../../core/errors.js';
import { configOrExit } from '../common.js';
import { exitOnSignals } from '../shutdown.js';
import { defaultRoles, ROLES, startSluice, type Role } from '../start.js';

function parseRoles(value: string): Set<Role> {
  const roles = value.split(',').map((r) => r.trim()).filter(Boolean);
  for (const role of roles) {
    if (!(ROLES as readonly string[]).includes(role)) throw new InvalidArgumentError(`unknown role "${role}" (roles: ${ROLES.join(', ')})`);
  }
  return new Set(roles as Role[]);
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the pipeline; all roles in one process by default')
    .option('--roles <list>', `comma-separated roles (${ROLES.join(',')}); default: all, the forwarder only when a sink is configured`, parseRoles)
    .action(async (options: { roles?: Set<Role> }) => {
      const config = configOrExit();
      const logger = createLogger(config.LOG_LEVEL);
      const log = logger.child({ module: 'main' });
      let running: Awaited<ReturnType<typeof startSluice>>;
      try {
        running = await startSluice(config, options.roles ?? defaultRoles(config), logger);
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
      exitOnSignals(log, () => running.close());
    });
}
