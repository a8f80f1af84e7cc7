import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DashboardToken } from './token.js';
import { createDashboardAuth, TOO_MANY_ATTEMPTS, tooManyAttemptsMessage, type AuthChannel, type AuthResult, type DashboardAuth } from './auth.js';
import { SESSION_COOKIE } from './session.js';

/**
 * The dashboard token guards every HTTP server Sluice runs: the dashboard's, and the ops server of a process
 * without one (cli/roles/ops.ts), whose `/metrics` would otherwise be open.
 */

export interface AccessDeps {
  token: DashboardToken;
  metrics: Metrics;
  /**
   * Checks the token and throttles wrong ones per address (auth.ts); share one with the live socket. Without
   * it one is made with the default budget, logging to `logger`.
   */
  auth?: DashboardAuth;
  logger?: Logger;
}

/** Routes another module serves on a Sluice HTTP server (the ops routes), and which of them need no token. */
export interface MountedRoutes {
  publicPaths: readonly string[];
  register(app: FastifyInstance): void;
}

export type RequestAuth = AuthResult & { via: AuthChannel };

/** Answers a request from an address over its budget: 429, `Retry-After`, and a JSON reason. */
export function sendTooManyAttempts(reply: FastifyReply, retryAfterS: number): FastifyReply {
  return reply.code(429).header('retry-after', String(retryAfterS)).send({ error: TOO_MANY_ATTEMPTS, message: tooManyAttemptsMessage(retryAfterS) });
}

/**
 * Refuses every request outside `publicPaths` without the token. Returns how a request's session is checked.
 *
 * The token is the bearer header's, else the session cookie's. A wrong one counts against the request's
 * address (`request.ip`: the TCP peer, as `trustProxy` is off); a wrong cookie is also cleared, so a browser
 * holding a stale session (Sluice restarted with another token) stops presenting it after one refusal.
 */
export function requireToken(app: FastifyInstance, deps: AccessDeps, publicPaths: ReadonlySet<string>): (request: FastifyRequest) => RequestAuth {
  const auth = deps.auth ?? createDashboardAuth({ token: deps.token, metrics: deps.metrics, ...(deps.logger ? { logger: deps.logger } : {}) });
  const authenticate = (request: FastifyRequest): RequestAuth => {
    const header = request.headers.authorization;
    const [candidate, via]: [string | undefined, AuthChannel] = header?.startsWith('Bearer ')
      ? [header.slice('Bearer '.length).trim(), 'bearer']
      : [request.cookies[SESSION_COOKIE], 'cookie'];
    return { ...auth.check(request.ip, candidate, via), via };
  };

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (path !== undefined && publicPaths.has(path)) return;
    const session = authenticate(request);
    if (session.ok) return;
    if (session.reason === 'too-many-attempts') return sendTooManyAttempts(reply, session.retryAfterS);
    if (session.reason === 'bad-token' && session.via === 'cookie') reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(401).header('www-authenticate', 'Bearer realm="sluice"').send({ error: 'unauthorized', message: 'a dashboard token is required' });
  });
  return authenticate;
}
