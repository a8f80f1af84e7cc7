import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../core/metrics.js';
import { createPipelineMonitor, histogramQuantile, ratePerSec } from '../../../dashboard/pipeline.js';
import type { SinkStatus } from '../../../core/seams.js';

describe('histogramQuantile', () => {
  const bounds = [0.01, 0.1, 1];

  it('interpolates inside the bucket the rank falls in', () => {
    // 100 observations: 50 ≤ 10 ms, 40 in (10, 100] ms, 10 in (100 ms, 1 s].
    expect(histogramQuantile(0.5, bounds, [50, 90, 100, 100])).toBeCloseTo(0.01);
    expect(histogramQuantile(0.7, bounds, [50, 90, 100, 100])).toBeCloseTo(0.055);
    expect(histogramQuantile(0.99, bounds, [50, 90, 100, 100])).toBeCloseTo(0.91);
  });

  it('answers null without observations and the largest bound for the +Inf bucket', () => {
    expect(histogramQuantile(0.5, bounds, [0, 0, 0, 0])).toBeNull();
    expect(histogramQuantile(0.99, bounds, [0, 0, 0, 10])).toBe(1);
  });
});

describe('ratePerSec', () => {
  it('is zero across a counter reset or without elapsed time', () => {
    expect(ratePerSec(10, 30, 2000)).toBe(10);
    expect(ratePerSec(30, 10, 2000)).toBe(0);
    expect(ratePerSec(10, 30, 0)).toBe(0);
  });
});

describe('createPipelineMonitor', () => {
  it('computes rates and ack percentiles over the recent window from the registry', async () => {
    const metrics = createMetrics();
    const clock = { t: 0 };
    const monitor = createPipelineMonitor(
      { mode: 'embedded', roles: ['gateway', 'bridge', 'writer', 'dashboard'], now: () => clock.t, sampleMs: 60_000 },
      { metrics, readiness: [{ name: 'memory-store', check: async () => true }, { name: 'broken', check: async () => Promise.reject(new Error('down')) }], deadLetterCounts: () => ({}) },
    );
    try {
      await monitor.sample();
      clock.t = 5000;
      metrics.readingsNormalized.inc(500);
      metrics.mqttPublishes.inc({ qos: '1' }, 250);
      metrics.storeWrites.inc(500);
      metrics.rejections.inc({ code: 'INVALID_JSON' }, 3);
      for (let i = 0; i < 98; i++) metrics.ackLatency.observe(0.004);
      metrics.ackLatency.observe(0.2);
      metrics.ackLatency.observe(0.2);
      const snapshot = await monitor.snapshot();
      expect(snapshot).toMatchObject({
        mode: 'embedded',
        ingestPerSec: 100,
        publishesPerSec: 50,
        writer: { state: 'writing', pointsPerSec: 100 },
        deadLetters: { byReason: { INVALID_JSON: 3 }, source: 'metrics' },
        backends: { 'memory-store': true, broken: false },
        lag: { available: false },
      });
      expect(snapshot.ackLatencyMs.p50).toBeGreaterThan(2.5);
      expect(snapshot.ackLatencyMs.p50).toBeLessThanOrEqual(5);
      expect(snapshot.ackLatencyMs.p99).toBeGreaterThan(100);
    } finally {
      monitor.close();
    }
  });

  it('says the writer is elsewhere when this process has no writer role', async () => {
    const monitor = createPipelineMonitor({ mode: 'production', roles: ['dashboard'] }, { metrics: createMetrics(), readiness: [], deadLetterCounts: () => ({ TOO_LARGE: 2 }) });
    try {
      const snapshot = await monitor.snapshot();
      expect(snapshot.writer.state).toBe('absent');
      expect(snapshot.deadLetters).toEqual({ byReason: { TOO_LARGE: 2 }, source: 'live-feed' });
    } finally {
      monitor.close();
    }
  });
});

describe('createPipelineMonitor: the rules section', () => {
  const counts = { open: 2, unacknowledged: 1, bySeverity: { info: 0, warning: 1, critical: 1 }, worst: 'critical' as const };

  it('is absent when no rules run here and no alert was heard of', async () => {
    const monitor = createPipelineMonitor(
      { mode: 'embedded', roles: ['gateway', 'bridge', 'writer', 'dashboard'] },
      { metrics: createMetrics(), readiness: [], deadLetterCounts: () => ({}), alerts: { counts: () => ({ open: 0, unacknowledged: 0, bySeverity: { info: 0, warning: 0, critical: 0 } }), transitionCounts: () => ({ info: 0, warning: 0, critical: 0 }) } },
    );
    try {
      expect((await monitor.snapshot()).rules).toBeUndefined();
    } finally {
      monitor.close();
    }
  });

  it('reports the rules role of this process: evaluations/s, transitions, restore last and p99, late readings, the file error and the rules lag', async () => {
    const metrics = createMetrics();
    const clock = { t: 0 };
    const monitor = createPipelineMonitor(
      { mode: 'production', roles: ['dashboard', 'rules'], now: () => clock.t, sampleMs: 60_000 },
      {
        metrics,
        readiness: [],
        deadLetterCounts: () => ({}),
        alerts: { counts: () => counts, transitionCounts: () => ({ info: 9, warning: 9, critical: 9 }) },
        rules: () => ({
          source: '/etc/sluice/rules.yaml',
          loadedAt: 1_000,
          error: 'rules.yaml:4: rules[0] (room-warm): condition.above: required',
          rules: [
            { id: 'room-warm', description: 'warm', severity: 'warning', enabled: true, condition: 'temperature above 24', open: [] },
            { id: 'quiet', description: 'quiet', severity: 'info', enabled: false, condition: 'no reading for 30s', open: [] },
          ],
        }),
        lag: async () => ({
          available: true,
          groups: [
            { groupId: 'sluice-writer', topic: 'sluice.telemetry', totalLag: 3, partitions: [] },
            { groupId: 'sluice-rules', topic: 'sluice.telemetry', totalLag: 7, partitions: [] },
          ],
        }),
      },
    );
    try {
      await monitor.sample();
      clock.t = 4000;
      metrics.ruleEvaluations.inc(800);
      metrics.ruleLateReadings.inc(3);
      metrics.alertTransitions.inc({ rule: 'room-warm', severity: 'warning', transition: 'raised' }, 2);
      metrics.alertTransitions.inc({ rule: 'room-warm', severity: 'warning', transition: 'cleared' });
      metrics.alertTransitions.inc({ rule: 'down', severity: 'critical', transition: 'raised' });
      metrics.rulesReloads.inc({ outcome: 'loaded' }, 2);
      metrics.rulesReloads.inc({ outcome: 'invalid' });
      metrics.alertNotifications.inc({ channel: 'webhook', outcome: 'sent' }, 4);
      metrics.alertNotifications.inc({ channel: 'device', outcome: 'failed' });
      metrics.rulesStateRestoreSeconds.observe(2);
      const first = (await monitor.snapshot()).rules!;
      expect(first).toMatchObject({
        inProcess: true,
        evaluationsPerSec: 200,
        lateReadings: 3,
        transitions: { bySeverity: { info: 0, warning: 3, critical: 1 }, source: 'metrics' },
        open: counts,
        restoreSec: { last: 2, count: 1 },
        reloads: { loaded: 2, invalid: 1 },
        notifications: { sent: 4, retried: 0, failed: 1 },
        file: { source: '/etc/sluice/rules.yaml', loadedAt: 1_000, rules: 2, enabled: 1, error: 'rules.yaml:4: rules[0] (room-warm): condition.above: required' },
        lag: [{ groupId: 'sluice-rules', topic: 'sluice.telemetry', totalLag: 7, partitions: [] }],
      });
      expect(first.restoreSec.p99).toBeGreaterThan(1);
      expect(first.restoreSec.p99).toBeLessThanOrEqual(2.5);

      // The latest restore is the latest one, not an average of all of them.
      metrics.rulesStateRestoreSeconds.observe(0.2);
      const second = (await monitor.snapshot()).rules!;
      expect(second.restoreSec).toMatchObject({ last: 0.2, count: 2 });
    } finally {
      monitor.close();
    }
  });

  it('reports what the live feed heard when the rules run in another process', async () => {
    const monitor = createPipelineMonitor(
      { mode: 'production', roles: ['dashboard'] },
      { metrics: createMetrics(), readiness: [], deadLetterCounts: () => ({}), alerts: { counts: () => counts, transitionCounts: () => ({ info: 0, warning: 5, critical: 2 }) } },
    );
    try {
      expect((await monitor.snapshot()).rules).toEqual({
        inProcess: false,
        evaluationsPerSec: null,
        lateReadings: null,
        transitions: { bySeverity: { info: 0, warning: 5, critical: 2 }, source: 'live-feed' },
        open: counts,
        restoreSec: { last: null, p99: null, count: 0 },
        reloads: null,
        notifications: null,
        lag: [],
      });
    } finally {
      monitor.close();
    }
  });
});

describe('createPipelineMonitor: the forward sinks', () => {
  it('reports each configured sink: its loop where it runs here, only its Kafka lag where it runs elsewhere', async () => {
    const metrics = createMetrics();
    const clock = { t: 100_000 };
    const statuses: SinkStatus[] = [
      { sink: 'rabbitmq', groupId: 'sluice-iot-sink-rabbitmq', state: 'retrying', delivered: 900, refused: 2, inFlight: 40, lastDeliveredTs: 88_000, failingSince: 95_000, lastError: 'connect ECONNREFUSED' },
    ];
    const lag = {
      available: true,
      groups: [
        { groupId: 'sluice-iot-sink-rabbitmq', topic: 'iot.telemetry', totalLag: 120, partitions: [] },
        { groupId: 'sluice-iot-sink-kinesis', topic: 'iot.telemetry', totalLag: 0, partitions: [] },
      ],
    };
    const monitor = createPipelineMonitor(
      {
        mode: 'production',
        roles: ['forwarder', 'dashboard'],
        now: () => clock.t,
        sampleMs: 60_000,
        sinkGroups: [
          { sink: 'rabbitmq', groupId: 'sluice-iot-sink-rabbitmq' },
          { sink: 'kinesis', groupId: 'sluice-iot-sink-kinesis' },
          { sink: 'pulsar', groupId: 'sluice-iot-sink-pulsar' },
        ],
      },
      { metrics, readiness: [], deadLetterCounts: () => ({}), lag: async () => lag, sinks: () => statuses },
    );
    try {
      await monitor.sample();
      clock.t = 105_000;
      metrics.sinkRecords.inc({ sink: 'rabbitmq' }, 500);
      const { sinks } = await monitor.snapshot();
      expect(sinks).toEqual([
        { sink: 'rabbitmq', groupId: 'sluice-iot-sink-rabbitmq', state: 'retrying', recordsPerSec: 100, refused: 2, lagRecords: 120, lagSec: 17, lastError: 'connect ECONNREFUSED', failingSince: 95_000 },
        { sink: 'kinesis', groupId: 'sluice-iot-sink-kinesis', state: 'elsewhere', recordsPerSec: null, refused: null, lagRecords: 0, lagSec: null },
        // A group Kafka knows nothing of yet has no lag to tell.
        { sink: 'pulsar', groupId: 'sluice-iot-sink-pulsar', state: 'elsewhere', recordsPerSec: null, refused: null, lagRecords: null, lagSec: null },
      ]);
    } finally {
      monitor.close();
    }
  });

  it('has no sinks when none is configured', async () => {
    const monitor = createPipelineMonitor({ mode: 'embedded', roles: ['dashboard'], sampleMs: 60_000 }, { metrics: createMetrics(), readiness: [], deadLetterCounts: () => ({}) });
    try {
      expect((await monitor.snapshot()).sinks).toEqual([]);
    } finally {
      monitor.close();
    }
  });
});
