import { rulesFilePath } from '../../core/config.js';
import { sluiceError, ErrorCodes } from '../../core/errors.js';
import type { RulesReport } from '../../core/alerts.js';
import { createRuleEngine } from '../../rules/engine.js';
import { loadRulesFile, watchRulesFile } from '../../rules/loader.js';
import { createRulesRunner } from '../../rules/runner.js';
import { createAlertNotifications } from '../../rules/notify/notifications.js';
import { alertAsReading, summarizeRules } from '../../rules/describe.js';
import type { Services } from './shared.js';

export interface RulesRole {
  report: () => RulesReport;
}

/**
 * The rules stage: a consumer group over telemetry, events, dead letters and alert acknowledgements that evaluates
 * the rules of RULES_FILE (reloaded on change), keeps its state in `{prefix}.rules-state`, writes alert transitions
 * to `{prefix}.alerts` and sends the webhooks rules ask for. Scales out by running more processes with this role.
 */
export async function startRulesRole(services: Services): Promise<RulesRole> {
  const { config, kafka, logger, metrics, closers } = services;
  const source = rulesFilePath(config);
  const loaded = await loadRulesFile(source);
  if (!loaded.ok) throw sluiceError(ErrorCodes.CONFIG_INVALID, `the rules file is invalid:\n  ${loaded.errors.join('\n  ')}`);
  metrics.rulesReloads.inc({ outcome: 'loaded' });
  let rules = loaded.rules;
  let loadedAt = Date.now();
  let error: string | undefined;
  const log = logger.child({ module: 'rules' });
  log.info({ source, rules: rules.length }, loaded.missing ? 'no rules file: no rules run until one is written' : 'rules loaded');

  const engine = createRuleEngine({ rules, allowedLatenessMs: config.RULES_ALLOWED_LATENESS_MS });
  const producer = await services.bus.createProducer();
  closers.add('rules-producer', () => producer.close());
  const notifications = createAlertNotifications(
    { timeoutMs: config.RULES_WEBHOOK_TIMEOUT_MS, retries: config.RULES_WEBHOOK_RETRIES, rules: () => rules },
    { producer, logger, metrics },
  );
  closers.add('rules-notifications', () => notifications.close());
  const runner = createRulesRunner(
    { groupId: kafka.rulesGroupId, partitions: config.KAFKA_PARTITIONS, stateFlushMs: config.RULES_STATE_FLUSH_MS, tickMs: config.RULES_TICK_MS },
    {
      bus: services.bus,
      producer,
      engine,
      onAlerts(transitions) {
        notifications.notify(transitions);
        // A copy for Grafana to overlay on the readings; the alerts stream is the record, so a failed write is only logged.
        if (services.store.kind === 'influx') void services.store.write(transitions.map(alertAsReading)).catch((failure: unknown) => log.warn({ err: failure }, 'alerts not written to the store'));
      },
      logger,
      metrics,
    },
  );
  closers.add('rules', () => runner.close());
  // Without rules the stage reads nothing: a deployment that has none pays nothing for it until a rule is written.
  let running: Promise<void> | undefined;
  const startRunner = (): Promise<void> => (running ??= runner.start());
  const watch = watchRulesFile(
    source,
    {
      onRules(next) {
        rules = next;
        loadedAt = Date.now();
        error = undefined;
        void runner.publish(engine.setRules(next));
        if (next.length > 0) void startRunner().catch((failure: unknown) => log.error({ err: failure }, 'the rules stage did not start'));
      },
      onInvalid: (errors) => void (error = errors.join('\n')),
    },
    { logger, metrics },
    { loadedText: loaded.text },
  );
  closers.add('rules-file', async () => watch.close());
  if (rules.length > 0) await startRunner();
  services.readiness.push({
    name: 'rules',
    check: async () => running === undefined || runner.assignment() !== undefined,
    note: () => error && `rules file invalid, the last good rules run: ${error}`,
  });
  return { report: () => ({ source, loadedAt, ...(error ? { error } : {}), rules: summarizeRules(rules, engine.state()) }) };
}
