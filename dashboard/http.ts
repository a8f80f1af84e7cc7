import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import type { AlertTransition, RulesReport } from '../core/alerts.js';
import type { Reading } from '../core/reading.js';
import type { DeviceSummary, ReadingQuery } from '../core/seams.js';
import type { DeviceActivity } from './activity.js';
import { acknowledgement, type AlertBook, type AlertQuery } from './alerts.js';
import type { AlertList, PipelineSnapshot } from './protocol.js';
import { createDashboardAuth, tooManyAttemptsMessage } from './auth.js';
import { requireToken, type AccessDeps, type MountedRoutes } from './access.js';
import { loginPage, PAGE_HEADERS, SESSION_COOKIE, sessionCookieOptions } from './session.js';
import { MISSING_BUILD_PAGE, type WebAssets } from './static.js';

export { SESSION_COOKIE };
export type { MountedRoutes };

export interface HttpApiDeps extends AccessDeps {
  /** Served on the same port: health, readiness and metrics (cli/roles/ops.ts). */
  ops?: MountedRoutes;
  devices: () => DeviceSummary[];
  readings: (query: ReadingQuery) => Reading[];
  /** The built web app; without it `/` explains how to build it. */
  web?: WebAssets;
  /** What the pipeline view shows (`GET /api/pipeline`). */
  pipeline?: () => Promise<PipelineSnapshot>;
  /** Recent status events and dead letters per device (`GET /api/devices/:id/activity`). */
  activity?: DeviceActivity;
  /** The alerts the live feed delivered (`GET /api/alerts`, and what `POST /api/alerts/:id/ack` looks up). */
  alerts?: AlertBook;
  /** Writes an acknowledgement to the alerts stream; resolves once the queue has it. */
  acknowledge?: (transition: AlertTransition) => Promise<void>;
  /** The rules and their state, when the rules role runs in this process (`GET /api/rules`). */
  rules?: () => RulesReport;
}

const MAX_ACK_BY = 128;

/**
 * Who acknowledges: `by` from the JSON body when given (trimmed), else the dashboard and the client's address.
 * Undefined when the body is not an object or `by` is not a short printable name.
 */
export function acknowledgedBy(body: unknown, ip: string): string | undefined {
  if (body === undefined || body === null) return `dashboard@${ip}`;
  if (typeof body !== 'object' || Array.isArray(body)) return undefined;
  const by = (body as { by?: unknown }).by;
  if (by === undefined) return `dashboard@${ip}`;
  if (typeof by !== 'string') return undefined;
  const name = by.trim();
  const printable = [...name].every((c) => c >= ' ' && c !== '\u007f');
  return name.length >= 1 && name.length <= MAX_ACK_BY && printable ? name : undefined;
}

/** Served without a session: the login form, and `/`, which handles its own access; plus the mounted routes' own. */
const PUBLIC_PATHS = ['/login', '/logout', '/'];

/** The HTTP API of docs/contracts.md §11, built apart from listening so tests can use `inject` or port 0. */
export async function buildHttpApi(deps: HttpApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(cookie);
  // The login form posts application/x-www-form-urlencoded; one small parser instead of a plugin.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const auth = deps.auth ?? createDashboardAuth({ token: deps.token, metrics: deps.metrics, ...(deps.logger ? { logger: deps.logger } : {}) });
  const authenticate = requireToken(app, { ...deps, auth }, new Set([...PUBLIC_PATHS, ...(deps.ops?.publicPaths ?? [])]));
  deps.ops?.register(app);

  // Only adds the Secure flag, so a client spoofing X-Forwarded-Proto can only keep its own cookie off plain HTTP.
  const secure = (request: FastifyRequest): boolean => request.protocol === 'https' || request.headers['x-forwarded-proto'] === 'https';
  const sendLogin = (reply: FastifyReply, status: number, error?: string) => reply.code(status).headers(PAGE_HEADERS).send(loginPage(error));
  const sendThrottledLogin = (reply: FastifyReply, retryAfterS: number) =>
    reply.code(429).header('retry-after', String(retryAfterS)).headers(PAGE_HEADERS).send(loginPage(tooManyAttemptsMessage(retryAfterS)));
  /** The login page for a request that presented no token: still says so when its address is over budget. */
  const sendLoginFor = (request: FastifyRequest, reply: FastifyReply, status: number, error?: string) => {
    const wait = auth.retryAfterS(request.ip);
    return wait > 0 ? sendThrottledLogin(reply, wait) : sendLogin(reply, status, error);
  };

  // The app page. `/?token=…` (the URL printed at start-up) logs in and redirects, so the token leaves the
  // address bar and the history at once; a wrong one shows the login page with the reason.
  app.get<{ Querystring: { token?: string } }>('/', async (request, reply) => {
    const fromQuery = request.query.token;
    if (fromQuery !== undefined) {
      const result = auth.check(request.ip, fromQuery, 'query');
      if (!result.ok) {
        if (result.reason === 'too-many-attempts') return sendThrottledLogin(reply, result.retryAfterS);
        return result.reason === 'missing' ? sendLoginFor(request, reply, 401, 'Enter the dashboard token.') : sendLogin(reply, 401, 'That token is not valid.');
      }
      return reply.setCookie(SESSION_COOKIE, fromQuery, sessionCookieOptions(secure(request))).header('referrer-policy', 'no-referrer').redirect('/', 303);
    }
    const session = authenticate(request);
    if (!session.ok) {
      if (session.reason === 'too-many-attempts') return sendThrottledLogin(reply, session.retryAfterS);
      if (session.reason === 'bad-token' && session.via === 'cookie') reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.redirect('/login', 303);
    }
    const index = deps.web?.index;
    if (!index) return reply.code(503).headers(PAGE_HEADERS).send(MISSING_BUILD_PAGE);
    if (request.headers['if-none-match'] === index.etag) return reply.code(304).send();
    return reply.headers(PAGE_HEADERS).header('cache-control', 'no-cache').header('etag', index.etag).send(index.body);
  });

  app.get('/login', async (request, reply) => {
    const session = authenticate(request);
    if (session.ok) return reply.redirect('/', 303);
    if (session.reason === 'too-many-attempts') return sendThrottledLogin(reply, session.retryAfterS);
    if (session.reason === 'bad-token' && session.via === 'cookie') reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return sendLoginFor(request, reply, 200);
  });

  app.post<{ Body: { token?: unknown } | undefined }>('/login', async (request, reply) => {
    const candidate = typeof request.body?.token === 'string' ? request.body.token.trim() : undefined;
    const result = auth.check(request.ip, candidate, 'form');
    if (!result.ok) {
      if (result.reason === 'too-many-attempts') return sendThrottledLogin(reply, result.retryAfterS);
      return result.reason === 'missing' ? sendLoginFor(request, reply, 401, 'Enter the dashboard token.') : sendLogin(reply, 401, 'That token is not valid.');
    }
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

  app.get<{ Querystring: { state?: 'open' | 'all'; device?: string; since?: string } }>(
    '/api/alerts',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: ['open', 'all'] },
            device: { type: 'string', minLength: 1, maxLength: 256 },
            since: { type: 'string', pattern: '^[0-9]+$' },
          },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      if (!deps.alerts) return reply.code(404).send({ error: 'not-found', message: 'alerts are not enabled' });
      const query: AlertQuery = { state: request.query.state ?? 'open' };
      if (request.query.device) query.device = request.query.device;
      if (request.query.since) query.since = Number(request.query.since);
      const answer: AlertList = { alerts: deps.alerts.list(query), counts: deps.alerts.counts() };
      return answer;
    },
  );

  // Alerts being acknowledged right now: a second click while the first is on its way is a conflict, not a second record.
  const acknowledging = new Set<string>();
  app.post<{ Params: { id: string } }>('/api/alerts/:id/ack', async (request, reply) => {
    const { alerts, acknowledge } = deps;
    if (!alerts || !acknowledge) return reply.code(404).send({ error: 'not-found', message: 'acknowledgements are not enabled in this process' });
    const alert = alerts.get(request.params.id);
    if (!alert || alert.state !== 'open') return reply.code(404).send({ error: 'not-found', message: 'no open alert has this id' });
    if (alert.ackBy !== undefined || acknowledging.has(alert.alertId)) {
      return reply.code(409).send({ error: 'already-acknowledged', message: `already acknowledged${alert.ackBy ? ` by ${alert.ackBy}` : ''}`, ackBy: alert.ackBy, ackAt: alert.ackAt });
    }
    const by = acknowledgedBy(request.body, request.ip);
    if (by === undefined) return reply.code(400).send({ error: 'bad-request', message: `optional body: { "by": a name of 1 to ${MAX_ACK_BY} printable characters }` });
    const transition = acknowledgement(alert, by, Date.now());
    acknowledging.add(alert.alertId);
    try {
      await acknowledge(transition);
    } catch (error) {
      return reply.code(503).send({ error: 'unavailable', message: `the alerts stream did not take the acknowledgement: ${(error as Error).message}` });
    } finally {
      acknowledging.delete(alert.alertId);
    }
    // Taken now, so the API and every socket show it at once; the same record read back from the stream is a duplicate.
    alerts.add(transition);
    return reply.code(202).send(transition);
  });

  app.get('/api/rules', async (_request, reply) => {
    if (!deps.rules) return reply.code(404).send({ error: 'not-found', message: 'the rules role does not run in this process' });
    return deps.rules();
  });

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
        timeNs: r.timeNs,
        value: r.value,
        ...(r.unit ? { unit: r.unit } : {}),
        ...(r.tags ? { tags: r.tags } : {}),
      }));
      return { deviceId: request.params.id, readings };
    },
  );

  return app;
}
