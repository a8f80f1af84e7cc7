import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createMetrics } from '../../../core/metrics.js';
import { buildHttpApi } from '../../../dashboard/http.js';
import type { WebAssets } from '../../../dashboard/static.js';

const token = { check: (candidate: string | undefined) => candidate === 'good-token' };
const web: WebAssets = {
  root: '/nowhere',
  index: { body: Buffer.from('<!doctype html><title>app</title>'), contentType: 'text/html; charset=utf-8', etag: '"i"' },
  files: new Map([['main.js', { body: Buffer.from('console.log(1)'), contentType: 'text/javascript; charset=utf-8', etag: '"j"' }]]),
};

describe('dashboard access: login page, session cookie, API token', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildHttpApi({ token, metrics: createMetrics(), devices: () => [], readings: () => [], web });
  });
  afterAll(() => app.close());

  it('sends a browser without a session to the login page, served without a token', async () => {
    const root = await app.inject('/');
    expect(root.statusCode).toBe(303);
    expect(root.headers.location).toBe('/login');
    const login = await app.inject('/login');
    expect(login.statusCode).toBe(200);
    expect(login.body).toContain('name="token"');
    expect(login.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('logs in with /?token=… and sets an HttpOnly, SameSite=Strict session cookie', async () => {
    const response = await app.inject('/?token=good-token');
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/');
    const cookie = String(response.headers['set-cookie']);
    expect(cookie).toMatch(/^sluice_session=good-token;/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    const page = await app.inject({ url: '/', cookies: { sluice_session: 'good-token' } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<title>app</title>');
    const asset = await app.inject({ url: '/assets/main.js', cookies: { sluice_session: 'good-token' } });
    expect(asset.headers['content-type']).toContain('text/javascript');
  });

  it('answers a wrong token with the login page and an error, and sets no cookie', async () => {
    for (const response of [
      await app.inject('/?token=wrong'),
      await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=wrong' }),
    ]) {
      expect(response.statusCode).toBe(401);
      expect(response.body).toContain('id="login-error"');
      expect(response.headers['set-cookie']).toBeUndefined();
    }
  });

  it('logs in through the form', async () => {
    const response = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=good-token' });
    expect(response.statusCode).toBe(303);
    expect(String(response.headers['set-cookie'])).toContain('sluice_session=good-token');
  });

  it('keeps the API at 401 without a token and serves it with the cookie or a bearer token', async () => {
    expect((await app.inject('/api/devices')).statusCode).toBe(401);
    expect((await app.inject('/assets/main.js')).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/devices', cookies: { sluice_session: 'good-token' } })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/devices/d1/activity', headers: { authorization: 'Bearer good-token' } })).json()).toEqual({ deviceId: 'd1', events: [], deadLetters: [] });
  });
});
