import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { createClosers, openServices, ROLES, type Role, type RunningSluice } from './roles/shared.js';
import { startWriterRole } from './roles/writer.js';
import { startRulesRole } from './roles/rules.js';
import { startDashboardRole } from './roles/dashboard.js';
import { startIngestRole } from './roles/ingest.js';
import { startOpsRole } from './roles/ops.js';
import { startForwarderRole } from './roles/forwarder.js';
import { configuredSinks } from './roles/sinks.js';

export { ROLES, type Role, type RunningSluice } from './roles/shared.js';

/** The roles of `sluice start` without `--roles`: all of them, the forwarder only when a sink is configured. */
export function defaultRoles(config: Readonly<Config>): Set<Role> {
  const forwarding = configuredSinks(config).length > 0;
  return new Set(ROLES.filter((role) => role !== 'forwarder' || forwarding));
}

/**
 * One Sluice process: the roles it was asked for, each wired in its own file under roles/, on the services they
 * share (queue, store, metrics, readiness). Everything opened is closed in reverse order, also when start-up fails.
 */
export async function startSluice(config: Readonly<Config>, roles: ReadonlySet<Role>, logger: Logger): Promise<RunningSluice> {
  const closers = createClosers(logger);
  const running: RunningSluice = { close: () => closers.closeAll() };
  try {
    const services = await openServices(config, logger, closers, roles);
    const writer = roles.has('writer') ? await startWriterRole(services) : undefined;
    const rules = roles.has('rules') ? await startRulesRole(services) : undefined;
    const forwarder = roles.has('forwarder') ? await startForwarderRole(services) : undefined;
    if (roles.has('dashboard')) Object.assign(running, await startDashboardRole(services, roles, { writer: writer?.writer, rulesReport: rules?.report, sinks: forwarder?.statuses }));
    if (roles.has('gateway') || roles.has('bridge')) Object.assign(running, await startIngestRole(services, roles.has('gateway')));
    if (!roles.has('dashboard')) Object.assign(running, await startOpsRole(services, rules?.report));
    await writer?.started;
    await forwarder?.started;
    return running;
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}
