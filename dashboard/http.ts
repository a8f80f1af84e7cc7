import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import type { Metrics } from '../core/metrics.js';
import type { Reading } from '../core/reading.js';
import type { DeviceSummary, ReadingQuery } from '../core/seams.js';
import type { DashboardToken } from './token.js';

export const SESSION_COOKIE = 'sluice_session';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

export interface HttpApiDeps {
  token: DashboardToken;
  metrics: Metrics;
  devices: () => DeviceSummary[];
  readings: (query: ReadingQuery) => Reading[];
  readiness: ReadinessCheck[];
}

/** The HTTP API of DESIGN §2, built apart from listening so tests can use `inject` or port 0. */
export async function buildHttpApi(deps: HttpApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(cookie);

  const bearer = (request: FastifyRequest): string | undefined => {
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
    return request.cookies[SESSION_COOKIE];
  };

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (path === '/healthz' || path === '/readyz') return;
    if (!deps.token.check(bearer(request))) {
      await reply.code(401).header('www-authenticate', 'Bearer realm="sluice"').send({ error: 'unauthorized', message: 'a dashboard token is required' });
    }
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const results = await Promise.all(
      deps.readiness.map(async ({ name, check }) => ({ name, ok: await check().catch(() => false) })),
    );
    const ready = results.every((r) => r.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks: Object.fromEntries(results.map((r) => [r.name, r.ok])) });
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.get('/api/devices', async () => ({ devices: deps.devices() }));

  app.get<{ Params: { id: string }; Querystring: { metric?: string; since?: string; limit?: string } }>(
    '/api/devices/:id/readings',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            metric: { type: 'string', minLength: 1, maxLength: 128 },
            since: { type: 'string', pattern: '^[0-9]+$' },
            limit: { type: 'string', pattern: '^[0-9]+$' },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const query: ReadingQuery = { deviceId: request.params.id };
      if (request.query.metric) query.metric = request.query.metric;
      if (request.query.since) query.since = Number(request.query.since);
      query.limit = Math.min(Number(request.query.limit ?? 10_000), 100_000);
      const readings = deps.readings(query).map((r) => ({
        metric: r.metric,
        ts: r.ts,
        value: r.value,
        ...(r.unit ? { unit: r.unit } : {}),
        ...(r.tags ? { tags: r.tags } : {}),
      }));
      return { deviceId: request.params.id, readings };
    },
  );

  return app;
}
