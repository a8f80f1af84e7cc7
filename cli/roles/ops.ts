import Fastify, { type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import type { Metrics } from '../../core/metrics.js';
import type { ReadinessCheck } from '../../core/seams.js';
import type { RulesReport } from '../../core/alerts.js';
import { requireToken, type AccessDeps, type MountedRoutes } from '../../dashboard/access.js';
import { createDashboardAuth } from '../../dashboard/auth.js';
import { loadDashboardToken } from '../../dashboard/token.js';
import type { RunningSluice, Services } from './shared.js';

/**
 * Health, readiness and metrics, served by every process so each can be probed and scraped: on the dashboard's
 * port where the process has one, else on a small server of their own (same port, same token).
 */

/** `/healthz` and `/readyz` (JSON naming each check; 503 while one is red) need no token; `/metrics` does. */
export function opsRoutes(deps: { metrics: Metrics; readiness: readonly ReadinessCheck[] }): MountedRoutes {
  return {
    publicPaths: ['/healthz', '/readyz'],
    register(app) {
      app.get('/healthz', async () => ({ status: 'ok' }));
      app.get('/readyz', async (_request, reply) => {
        const results = await Promise.all(deps.readiness.map(async ({ name, check }) => ({ name, ok: await check().catch(() => false) })));
        const ready = results.every((r) => r.ok);
        const notes = deps.readiness.flatMap(({ name, note }) => {
          const text = note?.();
          return text ? [[name, text] as const] : [];
        });
        return reply.code(ready ? 200 : 503).send({
          status: ready ? 'ready' : 'not-ready',
          checks: Object.fromEntries(results.map((r) => [r.name, r.ok])),
          ...(notes.length > 0 ? { notes: Object.fromEntries(notes) } : {}),
        });
      });
      app.get('/metrics', async (_request, reply) => reply.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
    },
  };
}

/**
 * The ops routes alone behind the dashboard token, for a process without the dashboard role; a rules process also
 * answers `GET /api/rules` (its rules and their live state), as the dashboard does where the rules run with it.
 */
export async function buildOpsApi(deps: AccessDeps & { readiness: readonly ReadinessCheck[]; rules?: () => RulesReport }): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(cookie);
  const routes = opsRoutes(deps);
  requireToken(app, deps, new Set(routes.publicPaths));
  routes.register(app);
  const { rules } = deps;
  if (rules) app.get('/api/rules', async () => rules());
  return app;
}

export async function startOpsRole(services: Services, rules?: () => RulesReport): Promise<Partial<RunningSluice>> {
  const { config, metrics, logger } = services;
  const token = await loadDashboardToken(config.DATA_DIR, config.DASHBOARD_TOKEN);
  const auth = createDashboardAuth({ token, metrics, logger, budget: config.AUTH_FAILURE_BUDGET, refillMs: config.AUTH_FAILURE_REFILL_MS });
  const ops = await buildOpsApi({ token, metrics, readiness: services.readiness, auth, ...(rules ? { rules } : {}) });
  services.closers.add('http', () => ops.close());
  await ops.listen({ host: config.DASHBOARD_HOST, port: config.DASHBOARD_PORT });
  const address = ops.server.address();
  return {
    dashboardPort: typeof address === 'object' && address ? address.port : config.DASHBOARD_PORT,
    ...(token.generated ? { generatedToken: token.generated } : {}),
  };
}
