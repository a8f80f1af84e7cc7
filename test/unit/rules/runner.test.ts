import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedBus } from '../../../core/streams/embedded.js';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import { decodeAlert, encodeAlert, encodeReading } from '../../../core/records.js';
import type { AlertTransition } from '../../../core/alerts.js';
import type { StreamBus } from '../../../core/seams.js';
import { createRuleEngine, type RuleEngine } from '../../../rules/engine.js';
import { createRulesRunner, type RulesRunner } from '../../../rules/runner.js';
import { rule } from './support.js';
import { timeNsOfMs } from '../../../core/reading.js';

const hot = rule({ type: 'threshold', metrics: ['temperature'], above: 50, clearAt: 40 }, { id: 'too-hot' });
const logger = createLogger('silent');

let bus: StreamBus;
const runners: RulesRunner[] = [];
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.close();
  await bus.close();
});

async function startRunner(notified: AlertTransition[] = []): Promise<RulesRunner & { engine: RuleEngine }> {
  const engine = createRuleEngine({ rules: [hot] });
  const runner = createRulesRunner(
    { groupId: 'rules', partitions: 2, stateFlushMs: 20, tickMs: 50 },
    { bus, producer: await bus.createProducer(), engine, onAlerts: (t) => void notified.push(...t), logger, metrics: createMetrics() },
  );
  runners.push(runner);
  await runner.start();
  return { ...runner, engine };
}

async function alertsOnBus(): Promise<AlertTransition[]> {
  const alerts: AlertTransition[] = [];
  await bus.readPartitions('alerts', [0, 1], (records) => void alerts.push(...records.map((r) => decodeAlert(r)!)));
  return alerts;
}

async function send(temperature: number, deviceId = 'dev-1'): Promise<void> {
  const producer = await bus.createProducer();
  const now = Date.now();
  await producer.send('telemetry', [encodeReading({ deviceId, metric: 'temperature', value: temperature, ts: now, timeNs: timeNsOfMs(now), receivedAt: now })]);
}

describe('rules runner on the embedded queue', () => {
  it('raises and clears on the stream, and hands each transition to notifications once it is in the alerts stream', async () => {
    bus = createEmbeddedBus({ partitions: 2 });
    const notified: AlertTransition[] = [];
    await startRunner(notified);
    await send(60);
    await expect.poll(async () => (await alertsOnBus()).map((a) => a.transition)).toEqual(['raised']);
    await send(30);
    await expect.poll(async () => (await alertsOnBus()).map((a) => `${a.transition}#${a.seq}`)).toEqual(['raised#1', 'cleared#2']);
    expect(notified.map((a) => a.transition)).toEqual(['raised', 'cleared']);
  });

  it('restores an open alert from the changelog in the next member: no second raise, and the clear continues its sequence', async () => {
    bus = createEmbeddedBus({ partitions: 2 });
    const first = await startRunner();
    await send(60);
    await expect.poll(async () => (await alertsOnBus()).length).toBe(1);
    await first.close();
    runners.splice(runners.indexOf(first), 1);

    await startRunner();
    await send(55);
    await send(30);
    await expect.poll(async () => (await alertsOnBus()).map((a) => `${a.transition}#${a.seq}`)).toEqual(['raised#1', 'cleared#2']);
    const [raised, cleared] = await alertsOnBus();
    expect(cleared!.alertId).toBe(raised!.alertId);
  });

  it('takes an acknowledgement written by someone else: the alert keeps who and when, and its next transition follows it', async () => {
    bus = createEmbeddedBus({ partitions: 2 });
    const { engine } = await startRunner();
    await send(60);
    await expect.poll(async () => (await alertsOnBus()).length).toBe(1);
    const [raised] = await alertsOnBus();
    const producer = await bus.createProducer();
    await producer.send('alerts', [encodeAlert({ ...raised!, transition: 'acknowledged', seq: 2, ackBy: 'ops', ackAt: 123, ts: 123 })]);
    // Readings and acknowledgements travel in different streams: the clear must come after the ack was read.
    await expect.poll(() => engine.state()[0]!.open[0]?.ackBy).toBe('ops');
    await send(30);
    await expect.poll(async () => (await alertsOnBus()).map((a) => `${a.transition}#${a.seq}`)).toEqual(['raised#1', 'acknowledged#2', 'cleared#3']);
    expect((await alertsOnBus())[2]).toMatchObject({ ackBy: 'ops', ackAt: 123 });
  });
});
