import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { createClosers, openServices, type Role, type RunningSluice } from './roles/shared.js';
import { startWriterRole } from './roles/writer.js';
import { startRulesRole } from './roles/rules.js';
import { startDashboardRole } from './roles/dashboard.js';
import { startIngestRole } from './roles/ingest.js';
import { startOpsRole } from './roles/ops.js';

export { ROLES, type Role, type RunningSluice } from './roles/shared.js';

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
    if (roles.has('dashboard')) Object.assign(running, await startDashboardRole(services, roles, writer?.writer, rules?.report));
    if (roles.has('gateway') || roles.has('bridge')) Object.assign(running, await startIngestRole(services, roles.has('gateway')));
    if (!roles.has('dashboard')) Object.assign(running, await startOpsRole(services, rules?.report));
    await writer?.started;
    return running;
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}
