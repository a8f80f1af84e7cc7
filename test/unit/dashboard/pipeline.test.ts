import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../core/metrics.js';
import { createPipelineMonitor, histogramQuantile, ratePerSec } from '../../../dashboard/pipeline.js';

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
