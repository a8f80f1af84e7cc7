import type { RulesReport } from '../../core/alerts.js';
import { createFleetState, mergeByPoint } from '../../core/fleet-state.js';
import { encodeAlert } from '../../core/records.js';
import { createKafkaLagSource } from '../../core/streams/kafka-lag.js';
import { createEmbeddedLagSource } from '../../core/streams/embedded.js';
import type { ConsumerLagSource, ReadingQuery, SinkStatus, Writer } from '../../core/seams.js';
import { createLiveFeed } from '../../consumers/live-feed.js';
import { createDashboard } from '../../dashboard/dashboard.js';
import { opsRoutes } from './ops.js';
import type { Role, RunningSluice, Services } from './shared.js';
import { configuredSinks } from './sinks.js';

/** What the roles started before the dashboard in this process hand it. */
export interface InProcessStages {
  writer?: Writer | undefined;
  rulesReport?: (() => RulesReport) | undefined;
  sinks?: (() => SinkStatus[]) | undefined;
}

/**
 * The dashboard: the live feed (every instance reads the whole stream), the fleet state it fills, consumer lag,
 * and the HTTP API, web app and socket.io on one port, with health, readiness and metrics (ops.ts) beside them.
 * Alert acknowledgements go to the alerts stream through a producer of its own; `rulesReport` is the rules role's,
 * when it runs in this process.
 */
export async function startDashboardRole(
  services: Services,
  roles: ReadonlySet<Role>,
  stages: InProcessStages,
): Promise<Partial<RunningSluice>> {
  const { writer, rulesReport, sinks } = stages;
  const { config, production, kafka, logger, metrics, memoryStore, closers } = services;
  const fleet = createFleetState({
    windowMs: config.LIVE_WINDOW_MINUTES * 60_000,
    maxPerSeries: Math.min(10_000, config.LIVE_WINDOW_MAX_READINGS),
    maxReadings: config.LIVE_WINDOW_MAX_READINGS,
  });
  // The dashboard is created before the live feed starts, so the live feed's warm-up already reaches it.
  const liveFeed = createLiveFeed({ warmWindowMs: config.LIVE_WINDOW_MINUTES * 60_000 }, { bus: services.bus, fleet, logger, metrics });
  // The rules group only where the rules run: elsewhere it may not exist, and a group that never committed reads as
  // the whole topic behind.
  // The forward sinks' groups wherever their forwarder runs: this deployment's configuration names them.
  const sinkGroups = configuredSinks(config).map((sink) => ({ sink, groupId: kafka.sinkGroupIds[sink] }));
  const lagGroups = [
    { groupId: kafka.writerGroupId, stream: 'telemetry' as const },
    ...(roles.has('rules') ? [{ groupId: kafka.rulesGroupId, stream: 'telemetry' as const }] : []),
    ...sinkGroups.map(({ groupId }) => ({ groupId, stream: 'telemetry' as const })),
  ];
  const lag: ConsumerLagSource = production ? createKafkaLagSource(kafka, { groups: lagGroups }) : createEmbeddedLagSource();
  closers.add('consumer-lag', () => lag.close());
  // Opened before the dashboard, so it closes after it: no acknowledgement is left without a producer.
  const alertProducer = await services.bus.createProducer();
  closers.add('alert-producer', () => alertProducer.close());
  const readings = (query: ReadingQuery) => (memoryStore ? mergeByPoint(memoryStore.query(query), fleet.query(query), query.limit) : fleet.query(query));
  const dashboard = await createDashboard(
    {
      host: config.DASHBOARD_HOST,
      port: config.DASHBOARD_PORT,
      dataDir: config.DATA_DIR,
      token: config.DASHBOARD_TOKEN,
      mode: config.mode,
      roles: [...roles],
      rulesGroupId: kafka.rulesGroupId,
      ...(sinkGroups.length > 0 ? { sinkGroups } : {}),
      authFailureBudget: config.AUTH_FAILURE_BUDGET,
      authFailureRefillMs: config.AUTH_FAILURE_REFILL_MS,
    },
    {
      metrics,
      fleet,
      liveFeed,
      logger,
      readiness: services.readiness,
      ops: opsRoutes(services),
      lag,
      readings,
      async acknowledge(transition) {
        await alertProducer.send('alerts', [encodeAlert(transition)]);
        metrics.alertTransitions.inc({ rule: transition.ruleId, severity: transition.severity, transition: transition.transition });
      },
      ...(writer ? { writerStatus: writer.status } : {}),
      ...(rulesReport ? { rules: rulesReport } : {}),
      ...(sinks ? { sinks } : {}),
    },
  );
  closers.add('dashboard', () => dashboard.close());
  await liveFeed.start();
  closers.add('live-feed', () => liveFeed.close());
  const { port } = await dashboard.listen();
  return { dashboardPort: port, ...(dashboard.generatedToken ? { generatedToken: dashboard.generatedToken } : {}) };
}
