import { createFleetState, mergeByPoint } from '../../core/fleet-state.js';
import { createKafkaLagSource } from '../../core/streams/kafka-lag.js';
import { createEmbeddedLagSource } from '../../core/streams/embedded.js';
import type { ConsumerLagSource, ReadingQuery, Writer } from '../../core/seams.js';
import { createLiveFeed } from '../../consumers/live-feed.js';
import { createDashboard } from '../../dashboard/dashboard.js';
import { opsRoutes } from './ops.js';
import type { Role, RunningSluice, Services } from './shared.js';

/**
 * The dashboard: the live feed (every instance reads the whole stream), the fleet state it fills, consumer lag,
 * and the HTTP API, web app and socket.io on one port, with health, readiness and metrics (ops.ts) beside them.
 */
export async function startDashboardRole(services: Services, roles: ReadonlySet<Role>, writer: Writer | undefined): Promise<Partial<RunningSluice>> {
  const { config, production, kafka, logger, metrics, memoryStore, closers } = services;
  const fleet = createFleetState({
    windowMs: config.LIVE_WINDOW_MINUTES * 60_000,
    maxPerSeries: Math.min(10_000, config.LIVE_WINDOW_MAX_READINGS),
    maxReadings: config.LIVE_WINDOW_MAX_READINGS,
  });
  // The dashboard is created before the live feed starts, so the live feed's warm-up already reaches it.
  const liveFeed = createLiveFeed({ warmWindowMs: config.LIVE_WINDOW_MINUTES * 60_000 }, { bus: services.bus, fleet, logger, metrics });
  const lag: ConsumerLagSource = production ? createKafkaLagSource(kafka, { groups: [{ groupId: kafka.writerGroupId, stream: 'telemetry' }] }) : createEmbeddedLagSource();
  closers.add('consumer-lag', () => lag.close());
  const readings = (query: ReadingQuery) => (memoryStore ? mergeByPoint(memoryStore.query(query), fleet.query(query), query.limit) : fleet.query(query));
  const dashboard = await createDashboard(
    {
      host: config.DASHBOARD_HOST,
      port: config.DASHBOARD_PORT,
      dataDir: config.DATA_DIR,
      token: config.DASHBOARD_TOKEN,
      mode: config.mode,
      roles: [...roles],
      authFailureBudget: config.AUTH_FAILURE_BUDGET,
      authFailureRefillMs: config.AUTH_FAILURE_REFILL_MS,
    },
    { metrics, fleet, liveFeed, logger, readiness: services.readiness, ops: opsRoutes(services), lag, readings, ...(writer ? { writerStatus: writer.status } : {}) },
  );
  closers.add('dashboard', () => dashboard.close());
  await liveFeed.start();
  closers.add('live-feed', () => liveFeed.close());
  const { port } = await dashboard.listen();
  return { dashboardPort: port, ...(dashboard.generatedToken ? { generatedToken: dashboard.generatedToken } : {}) };
}
