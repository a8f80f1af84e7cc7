import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/logger.js';
import { createMetrics, type Metrics } from '../../../core/metrics.js';
import { createDashboardAuth, dashboardAuthFailures } from '../../../dashboard/auth.js';
import { addressKey } from '../../../core/client-address.js';

const token = { check: (candidate: string | undefined) => candidate === 'good-token' };

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function logLines() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger('info', { destination }) };
}

async function failuresBy(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await dashboardAuthFailures(metrics).get();
  return Object.fromEntries(values.map((v) => [String(v.labels.reason), v.value]));
}

describe('dashboard auth: wrong tokens throttled per address', () => {
  it('counts wrong tokens only: no token, an empty one or the right one cost nothing', () => {
    const auth = createDashboardAuth({ token, metrics: createMetrics(), budget: 2, refillMs: 60_000 });
    for (let i = 0; i < 20; i++) {
      expect(auth.check('10.0.0.1', undefined, 'cookie')).toEqual({ ok: false, reason: 'missing' });
      expect(auth.check('10.0.0.1', '', 'form')).toEqual({ ok: false, reason: 'missing' });
      expect(auth.check('10.0.0.1', 'good-token', 'bearer')).toEqual({ ok: true });
    }
    expect(auth.retryAfterS('10.0.0.1')).toBe(0);
  });

  it('refuses an address over budget before looking at its token, the right one included, until one wrong token is forgiven', async () => {
    const time = clock();
    const metrics = createMetrics();
    const auth = createDashboardAuth({ token, metrics, budget: 3, refillMs: 6000, now: time.now });
    for (let i = 0; i < 3; i++) expect(auth.check('10.0.0.1', `guess-${i}`, 'bearer')).toEqual({ ok: false, reason: 'bad-token' });
    expect(auth.check('10.0.0.1', 'good-token', 'form')).toEqual({ ok: false, reason: 'too-many-attempts', retryAfterS: 6 });
    expect(auth.retryAfterS('10.0.0.1')).toBe(6);
    // Another address has its own budget.
    expect(auth.check('10.0.0.2', 'good-token', 'form')).toEqual({ ok: true });

    time.advance(4500);
    expect(auth.check('10.0.0.1', 'good-token', 'query')).toEqual({ ok: false, reason: 'too-many-attempts', retryAfterS: 2 });
    time.advance(1500);
    expect(auth.retryAfterS('10.0.0.1')).toBe(0);
    expect(auth.check('10.0.0.1', 'good-token', 'query')).toEqual({ ok: true });
    // The success gave back only its own attempt: one more wrong token spends the budget again.
    expect(auth.check('10.0.0.1', 'guess-3', 'socket')).toMatchObject({ reason: 'bad-token' });
    expect(auth.check('10.0.0.1', 'good-token', 'socket')).toMatchObject({ reason: 'too-many-attempts' });

    expect(await failuresBy(metrics)).toEqual({ 'bad-token': 4, throttled: 3 });
  });

  it('defaults to 10 wrong tokens and one forgiven every 6 s', () => {
    const time = clock();
    const auth = createDashboardAuth({ token, metrics: createMetrics(), now: time.now });
    for (let i = 0; i < 10; i++) expect(auth.check('10.0.0.1', 'wrong', 'bearer')).toMatchObject({ reason: 'bad-token' });
    expect(auth.check('10.0.0.1', 'wrong', 'bearer')).toEqual({ ok: false, reason: 'too-many-attempts', retryAfterS: 6 });
    time.advance(6000);
    expect(auth.check('10.0.0.1', 'good-token', 'bearer')).toEqual({ ok: true });
  });

  it('counts an IPv4-mapped address as the IPv4 one and an IPv6 peer by its /64', () => {
    const auth = createDashboardAuth({ token, metrics: createMetrics(), budget: 1, refillMs: 60_000 });
    auth.check('::ffff:192.0.2.7', 'wrong', 'bearer');
    expect(auth.check('192.0.2.7', 'good-token', 'bearer')).toMatchObject({ reason: 'too-many-attempts' });
    auth.check('2001:db8:1:2::1', 'wrong', 'bearer');
    expect(auth.check('2001:db8:1:2:ffff:ffff:ffff:fffe', 'good-token', 'bearer')).toMatchObject({ reason: 'too-many-attempts' });
    expect(auth.check('2001:db8:1:3::1', 'good-token', 'bearer')).toEqual({ ok: true });
  });

  it('logs a wrong token at warn, at most once per address per 10 s, counting the ones in between; never the token', () => {
    const time = clock();
    const { lines, logger } = logLines();
    const auth = createDashboardAuth({ token, metrics: createMetrics(), logger, budget: 3, refillMs: 60_000, now: time.now });
    for (let i = 0; i < 5; i++) auth.check('10.0.0.1', `secret-guess-${i}`, 'form');
    auth.check('10.0.0.2', 'other-guess', 'bearer');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 40, module: 'dashboard-auth', remoteAddress: '10.0.0.1', via: 'form', failures: 1, msg: 'wrong dashboard token' });
    expect(lines[1]).toMatchObject({ remoteAddress: '10.0.0.2', via: 'bearer' });
    time.advance(10_000);
    auth.check('10.0.0.1', 'good-token', 'cookie');
    expect(lines[2]).toMatchObject({
      remoteAddress: '10.0.0.1',
      via: 'cookie',
      suppressedBadTokens: 2,
      suppressedThrottled: 2,
      retryAfterS: 50,
      msg: 'dashboard token refused unchecked: too many wrong tokens from this address',
    });
    expect(JSON.stringify(lines)).not.toContain('guess');
    expect(JSON.stringify(lines)).not.toContain('good-token');
  });

  it('shares its counter with a second auth on the same registry', async () => {
    const metrics = createMetrics();
    const first = createDashboardAuth({ token, metrics });
    const second = createDashboardAuth({ token, metrics });
    first.check('10.0.0.1', 'wrong', 'bearer');
    second.check('10.0.0.1', 'wrong', 'bearer');
    expect(await failuresBy(metrics)).toEqual({ 'bad-token': 2 });
    expect(await metrics.registry.getSingleMetricAsString('sluice_dashboard_auth_failures_total')).toContain('sluice_dashboard_auth_failures_total{reason="bad-token"} 2');
  });
});

describe('addressKey', () => {
  it('keys IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:0db8:0000:0042:1:2:3:4')).toBe('2001:db8:0:42::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(addressKey(undefined)).toBe('unknown');
  });
});
