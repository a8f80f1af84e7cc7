import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import type { Metrics } from '../core/metrics.js';
import type { Reading } from '../core/reading.js';
import type { DeviceSummary, ReadingQuery } from '../core/seams.js';
import type { DashboardToken } from './token.js';
import type { DeviceActivity } from './activity.js';
import type { PipelineSnapshot } from './protocol.js';
import { loginPage, PAGE_HEADERS, SESSION_COOKIE, sessionCookieOptions } from './session.js';
import { MISSING_BUILD_PAGE, type WebAssets } from './static.js';

export { SESSION_COOKIE };

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
  /** Why the check is red, or something an operator should know while it is green; shown under `notes`. */
  note?: () => string | undefined;
}

export interface HttpApiDeps {
  token: DashboardToken;
  metrics: Metrics;
  devices: () => DeviceSummary[];
  readings: (query: ReadingQuery) => Reading[];
  readiness: ReadinessCheck[];
  /** The built web app; without it `/` explains how to build it. */
  web?: WebAssets;
  /** What the pipeline view shows (`GET /api/pipeline`). */
  pipeline?: () => Promise<PipelineSnapshot>;
  /** Recent status events and dead letters per device (`GET /api/devices/:id/activity`). */
  activity?: DeviceActivity;
}

/** Served without a session: probes, the login form, and `/`, which handles its own access. */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/login', '/logout', '/']);

export interface OpsDeps {
  token: DashboardToken;
  metrics: Metrics;
  readiness: ReadinessCheck[];
}

/**
 * What every role serves, dashboard or not: the token check for everything not public, `/healthz`,
 * `/readyz` (JSON naming each check) and `/metrics`. Returns how a request's token is read.
 */
export function registerOpsRoutes(app: FastifyInstance, deps: OpsDeps, publicPaths: ReadonlySet<string>): (request: FastifyRequest) => string | undefined {
  const bearer = (request: FastifyRequest): string | undefined => {
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
    return request.cookies[SESSION_COOKIE];
  };

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (path !== undefined && publicPaths.has(path)) return;
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

  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  return bearer;
}

/** Health, readiness and metrics alone, for processes without the dashboard role (gateway, writer). */
export async function buildOpsApi(deps: OpsDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(cookie);
  registerOpsRoutes(app, deps, new Set(['/healthz', '/readyz']));
  return app;
}

/** The HTTP API of DESIGN §2, built apart from listening so tests can use `inject` or port 0. */
export async function buildHttpApi(deps: HttpApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(cookie);
  // The login form posts application/x-www-form-urlencoded; one small parser instead of a plugin.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const bearer = registerOpsRoutes(app, deps, PUBLIC_PATHS);

  const secure = (request: FastifyRequest): boolean => request.protocol === 'https' || request.headers['x-forwarded-proto'] === 'https';
  const sendLogin = (reply: FastifyReply, status: number, error?: string) => reply.code(status).headers(PAGE_HEADERS).send(loginPage(error));

  // The app page. `/?token=…` (the URL printed at start-up) logs in and redirects, so the token leaves the
  // address bar and the history at once; a wrong one shows the login page with the reason.
  app.get<{ Querystring: { token?: string } }>('/', async (request, reply) => {
    const fromQuery = request.query.token;
    if (fromQuery !== undefined) {
      if (!deps.token.check(fromQuery)) return sendLogin(reply, 401, 'That token is not valid.');
      return reply.setCookie(SESSION_COOKIE, fromQuery, sessionCookieOptions(secure(request))).header('referrer-policy', 'no-referrer').redirect('/', 303);
    }
    if (!deps.token.check(bearer(request))) return reply.redirect('/login', 303);
    const index = deps.web?.index;
    if (!index) return reply.code(503).headers(PAGE_HEADERS).send(MISSING_BUILD_PAGE);
    if (request.headers['if-none-match'] === index.etag) return reply.code(304).send();
    return reply.headers(PAGE_HEADERS).header('cache-control', 'no-cache').header('etag', index.etag).send(index.body);
  });

  app.get('/login', async (request, reply) => {
    if (deps.token.check(bearer(request))) return reply.redirect('/', 303);
    return sendLogin(reply, 200);
  });

  app.post<{ Body: { token?: unknown } | undefined }>('/login', async (request, reply) => {
    const candidate = typeof request.body?.token === 'string' ? request.body.token.trim() : undefined;
    if (!deps.token.check(candidate)) return sendLogin(reply, 401, candidate ? 'That token is not valid.' : 'Enter the dashboard token.');
    return reply.setCookie(SESSION_COOKIE, candidate!, sessionCookieOptions(secure(request))).redirect('/', 303);
  });

  app.post('/logout', async (_request, reply) => {
    return reply.clearCookie(SESSION_COOKIE, { path: '/' }).redirect('/login', 303);
  });

  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const asset = deps.web?.files.get(request.params.name);
    if (!asset) return reply.code(404).send({ error: 'not-found' });
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.header('content-type', asset.contentType).header('cache-control', 'no-cache').header('etag', asset.etag).header('x-content-type-options', 'nosniff').send(asset.body);
  });

  app.get('/api/devices', async () => ({ devices: deps.devices() }));

  app.get('/api/pipeline', async (_request, reply) => {
    if (!deps.pipeline) return reply.code(404).send({ error: 'not-found', message: 'the pipeline view is not enabled' });
    return deps.pipeline();
  });

  app.get<{ Params: { id: string } }>('/api/devices/:id/activity', async (request) => ({
    deviceId: request.params.id,
    events: deps.activity?.events(request.params.id) ?? [],
    deadLetters: deps.activity?.deadLetters(request.params.id) ?? [],
  }));

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
