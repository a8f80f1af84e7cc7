import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AlertTransition } from '../../../../core/alerts.js';
import { createLogger } from '../../../../core/logger.js';
import { createMetrics } from '../../../../core/metrics.js';
import { bodyOf, createWebhookNotifier, nameOf, retryAfterOf, type WebhookNotifier, type WebhookNotifierOptions } from '../../../../rules/notify/webhook.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver does with a request: answer with a status (and headers), after `wait` if given; or never. */
type Answer = { status: number; headers?: Record<string, string>; wait?: Promise<void> } | 'hang';

interface Receiver {
  url: string;
  received: Received[];
  /** Resolves once `count` requests have arrived. */
  requests(count: number): Promise<void>;
  close(): Promise<void>;
}

const receivers: Receiver[] = [];
const notifiers: WebhookNotifier[] = [];

afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((notifier) => notifier.close()));
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

/** A real HTTP server on port 0 that records each request and answers as `answer` says. */
async function receiver(answer: (request: Received, index: number) => Answer): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now() };
      received.push(entry);
      server.emit('received');
      const reply = answer(entry, received.length - 1);
      if (reply === 'hang') return;
      void (reply.wait ?? Promise.resolve()).then(() => response.writeHead(reply.status, reply.headers).end());
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  const result: Receiver = {
    url: `http://127.0.0.1:${port}/hooks/secret-path`,
    received,
    async requests(count) {
      while (received.length < count) await once(server, 'received');
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
  receivers.push(result);
  return result;
}

interface DeadLetterCall {
  deviceId: string;
  reason: string;
  payload: string;
}

function setup(options: Partial<WebhookNotifierOptions> = {}) {
  const metrics = createMetrics();
  const deadLetters: DeadLetterCall[] = [];
  const notifier = createWebhookNotifier(
    { timeoutMs: 2000, retries: 3, backoffMs: 5, maxQueued: 100, ...options },
    {
      logger: createLogger('silent', { pretty: false }),
      metrics,
      deadLetter: async (deviceId, reason, payload) => {
        deadLetters.push({ deviceId, reason, payload });
      },
    },
  );
  notifiers.push(notifier);
  const outcomes = async (): Promise<Record<string, number>> =>
    Object.fromEntries((await metrics.alertNotifications.get()).values.filter((value) => value.labels.channel === 'webhook').map((value) => [String(value.labels.outcome), value.value]));
  /** Waits until nothing is held: every notification sent, failed or dropped. */
  const settled = () => vi.waitFor(() => expect(notifier.pending()).toEqual({ waiting: 0, trying: 0 }), { timeout: 10_000, interval: 5 });
  return { notifier, deadLetters, outcomes, settled };
}

const T0 = Date.UTC(2024, 0, 1, 12);

function alert(alertId: string, seq: number, fields: Partial<AlertTransition> = {}): AlertTransition {
  const transition = seq === 1 ? 'raised' : 'updated';
  return { alertId, ruleId: 'freezer-warm', deviceId: 'fridge-1', severity: 'critical', transition, state: 'open', value: 24.6, metric: 'temperature', raisedAt: T0, ts: T0 + seq, seq, description: 'Freezer above -10 °C', ...fields };
}

const ok: Answer = { status: 204 };

describe('webhook notifier', () => {
  it('POSTs the transition as JSON with content type, idempotency key and the secret header', async () => {
    const hook = await receiver(() => ok);
    const { notifier, outcomes, settled } = setup();
    const raised = alert('a1', 1);
    notifier.notify({ url: hook.url, secretHeader: { name: 'x-sluice-secret', value: 's3cret' } }, raised);
    notifier.notify({ url: hook.url }, raised, { repeat: 2 });
    await hook.requests(2);
    await settled();
    const [first, reminder] = hook.received;
    expect(first?.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': 'a1:1', 'x-sluice-secret': 's3cret' });
    expect(JSON.parse(first?.body ?? '')).toEqual({ ...raised, repeat: 0, text: 'CRITICAL freezer-warm on fridge-1: raised, temperature=24.6 — Freezer above -10 °C' });
    expect(reminder?.headers).toMatchObject({ 'idempotency-key': 'a1:1:repeat-2' });
    expect(reminder?.headers).not.toHaveProperty('x-sluice-secret');
    expect(JSON.parse(reminder?.body ?? '')).toMatchObject({ alertId: 'a1', seq: 1, repeat: 2 });
    expect(await outcomes()).toEqual({ sent: 2 });
  });

  it('retries a 500 with the same idempotency key until it succeeds', async () => {
    const hook = await receiver((_request, index) => (index < 2 ? { status: 500 } : ok));
    const { notifier, deadLetters, outcomes, settled } = setup();
    notifier.notify({ url: hook.url }, alert('a1', 1));
    await hook.requests(3);
    await settled();
    expect(hook.received.map((request) => request.headers['idempotency-key'])).toEqual(['a1:1', 'a1:1', 'a1:1']);
    expect(deadLetters).toEqual([]);
    expect(await outcomes()).toEqual({ retried: 2, sent: 1 });
  });

  it('waits the Retry-After of a 429, up to maxDelayMs', { timeout: 15_000 }, async () => {
    const hook = await receiver((_request, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : index === 2 ? { status: 429, headers: { 'retry-after': '3600' } } : ok));
    const { notifier, settled, outcomes } = setup({ backoffMs: 1, maxDelayMs: 300 });
    notifier.notify({ url: hook.url }, alert('a1', 1));
    await hook.requests(2);
    // Retry-After: 1 asks for a second, capped to maxDelayMs (300 ms); the backoff alone would be 1 ms or less.
    const gap = (hook.received[1]?.at ?? 0) - (hook.received[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(280);
    notifier.notify({ url: hook.url }, alert('a2', 1));
    await hook.requests(4);
    // An hour asked for, 300 ms waited.
    const capped = (hook.received[3]?.at ?? 0) - (hook.received[2]?.at ?? 0);
    expect(capped).toBeGreaterThanOrEqual(280);
    expect(capped).toBeLessThan(5000);
    await settled();
    expect(await outcomes()).toEqual({ retried: 2, sent: 2 });
  });

  it('honours a Retry-After of a second when under the cap', { timeout: 15_000 }, async () => {
    const hook = await receiver((_request, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : ok));
    const { notifier, settled } = setup({ backoffMs: 1 });
    notifier.notify({ url: hook.url }, alert('a1', 1));
    await hook.requests(2);
    expect((hook.received[1]?.at ?? 0) - (hook.received[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
    await settled();
  });

  it('cuts a request that gets no answer after timeoutMs, retries, then dead-letters it once', async () => {
    const hook = await receiver(() => 'hang');
    const { notifier, deadLetters, outcomes, settled } = setup({ timeoutMs: 50, retries: 2 });
    const raised = alert('a1', 1);
    notifier.notify({ url: hook.url }, raised);
    await settled();
    expect(hook.received).toHaveLength(3);
    expect(deadLetters).toEqual([{ deviceId: 'fridge-1', reason: `${nameOf(hook.url)} did not answer within 50 ms after 3 attempts`, payload: JSON.stringify(bodyOf(raised, 0)) }]);
    expect(deadLetters[0]?.reason).toMatch(/^webhook http:\/\/127\.0\.0\.1:\d+\/… did not answer/);
    expect(await outcomes()).toEqual({ retried: 2, failed: 1 });
  });

  it('fails a 400 at once: one request, one dead letter, no retries', async () => {
    const hook = await receiver(() => ({ status: 400 }));
    const { notifier, deadLetters, outcomes, settled } = setup();
    notifier.notify({ url: hook.url }, alert('a1', 1));
    await settled();
    expect(hook.received).toHaveLength(1);
    expect(deadLetters.map((letter) => letter.reason)).toEqual([`${nameOf(hook.url)} answered 400 (not retried)`]);
    expect(await outcomes()).toEqual({ failed: 1 });
  });

  it('retries a receiver that is not there, naming the socket error', async () => {
    const gone = await receiver(() => ok);
    await gone.close();
    const { notifier, deadLetters, settled } = setup({ retries: 1 });
    notifier.notify({ url: gone.url }, alert('a1', 1));
    await settled();
    expect(deadLetters.map((letter) => letter.reason)).toEqual([`${nameOf(gone.url)} unreachable (ECONNREFUSED) after 2 attempts`]);
  });

  it("sends one alert's transitions in seq order, a later one waiting for the earlier, while other alerts go on", async () => {
    let releaseFirst = (): void => undefined;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const hook = await receiver((_request, index) => (index === 0 ? { status: 503, wait: firstHeld } : ok));
    const { notifier, settled } = setup();
    const target = { url: hook.url };
    notifier.notify(target, alert('a1', 1));
    await hook.requests(1);
    // Handed over out of order while the raise is still unanswered: they wait, and go out by seq.
    notifier.notify(target, alert('a1', 3, { transition: 'cleared', state: 'cleared' }));
    notifier.notify(target, alert('a1', 2));
    notifier.notify(target, alert('b1', 1));
    await hook.requests(2);
    expect(JSON.parse(hook.received[1]?.body ?? '')).toMatchObject({ alertId: 'b1', seq: 1 });
    releaseFirst();
    await hook.requests(5);
    await settled();
    const sent = hook.received.map((request) => request.headers['idempotency-key']);
    expect(sent).toEqual(['a1:1', 'b1:1', 'a1:1', 'a1:2', 'a1:3']);
  });

  it('holds at most maxQueued, dropping the oldest to a dead letter', async () => {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const hook = await receiver(() => ({ status: 200, wait: released }));
    const { notifier, deadLetters, outcomes, settled } = setup({ maxQueued: 2, concurrency: 1 });
    const target = { url: hook.url };
    notifier.notify(target, alert('a1', 1));
    await hook.requests(1);
    notifier.notify(target, alert('b1', 1));
    notifier.notify(target, alert('c1', 1)); // a1, in flight, is the oldest: dropped
    notifier.notify(target, alert('d1', 1)); // then b1, waiting for a free request
    release();
    await settled();
    const full = `${nameOf(hook.url)} not sent: queue full (2 held), dropped the oldest`;
    expect(deadLetters.map((letter) => [(JSON.parse(letter.payload) as AlertTransition).alertId, letter.reason]).sort()).toEqual([
      ['a1', full],
      ['b1', full],
    ]);
    expect(hook.received.slice(1).map((request) => request.headers['idempotency-key'])).toEqual(['c1:1', 'd1:1']);
    expect(await outcomes()).toEqual({ dropped: 2, sent: 2 });
  });

  it('closes within drainMs, dead-lettering what is left, and dead-letters what comes after', async () => {
    const hook = await receiver(() => 'hang');
    const { notifier, deadLetters, outcomes } = setup({ drainMs: 100, timeoutMs: 60_000 });
    notifier.notify({ url: hook.url }, alert('a1', 1));
    await hook.requests(1);
    const started = performance.now();
    await notifier.close();
    expect(performance.now() - started).toBeLessThan(5000);
    notifier.notify({ url: hook.url }, alert('a2', 1));
    await vi.waitFor(() => expect(deadLetters).toHaveLength(2), { timeout: 5000, interval: 5 });
    expect(deadLetters.map((letter) => letter.reason)).toEqual([`${nameOf(hook.url)} not sent before shutdown`, `${nameOf(hook.url)} not sent: the notifier is shutting down`]);
    expect(await outcomes()).toEqual({ dropped: 2 });
  });

  it('closes at once when nothing is held', async () => {
    const { notifier } = setup();
    await notifier.close();
  });
});

describe('webhook helpers', () => {
  it.each([
    ['seconds', '120', 120_000],
    ['an HTTP date', new Date(T0 + 30_000).toUTCString(), 30_000],
    ['a date past', new Date(T0 - 30_000).toUTCString(), 0],
    ['nonsense', 'soon', undefined],
    ['absent', null, undefined],
  ])('reads Retry-After as %s', (_name, header, expected) => {
    expect(retryAfterOf(header, T0)).toBe(expected);
  });

  it.each([
    ['https://hooks.slack.com/services/T0/B0/XYZ', 'webhook https://hooks.slack.com/…'],
    ['https://alerts.example.com/', 'webhook https://alerts.example.com'],
    ['https://alerts.example.com/?token=x', 'webhook https://alerts.example.com/…'],
    ['not a url', 'webhook (an invalid URL)'],
  ])('names %s by its origin only', (url, name) => {
    expect(nameOf(url)).toBe(name);
  });
});
