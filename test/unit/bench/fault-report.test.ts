import { describe, expect, it } from 'vitest';
import { describeHit, reportFault } from '../../../bench/fault-report.js';
import type { AppliedFault } from '../../../bench/fault-runner.js';
import { parseFaultSpec } from '../../../bench/faults.js';

/** 100 ms buckets over a 30 s load of 100 messages a second: 10 offered and acknowledged per bucket, but for `gaps`. */
function load(gaps: { from: number; to: number }[], disconnects: Record<number, number>, reconnects: Record<number, number>) {
  const buckets = 300;
  const series = (at: Record<number, number>) => Array.from({ length: buckets }, (_, i) => at[i] ?? 0);
  return {
    seriesBucketMs: 100,
    dueSeries: Array(buckets).fill(10),
    ackedSeries: Array.from({ length: buckets }, (_, i) => (gaps.some((g) => i >= g.from && i < g.to) ? 0 : 10)),
    disconnectSeries: series(disconnects),
    reconnectSeries: series(reconnects),
  };
}

const context = { offeredPerSec: 100, loadEndMs: 30_000, loadStartAt: 0, warmupMs: 0, firstFaultAtMs: 5000, polls: [], intervalMs: 1000 };

function gatewayKill(spec: string, othersRunning: number, liftedAtMs: number): AppliedFault {
  const parsed = parseFaultSpec(spec);
  return {
    spec: parsed,
    target: othersRunning > 0 ? `gateway ${parsed.gateway ?? 0}` : 'gateway',
    broker: null,
    gateway: parsed.gateway ?? 0,
    heldConnections: othersRunning > 0 ? 5 : null,
    othersRunning,
    ledPartitions: null,
    partitions: null,
    appliedAtMs: 5000,
    downAtMs: 5050,
    liftedAtMs,
  };
}

describe('a gateway fault in the report', () => {
  it('with other gateways running, the devices are back when they reconnected to them, before the killed one is restarted', () => {
    // 5 of 10 devices drop at 5.0 s and are back at 6.5 s; the killed gateway listens again at 20 s.
    const report = reportFault(gatewayKill('gateway-kill:1@5+15', 1, 20_000), load([{ from: 50, to: 65 }], { 50: 5 }, { 65: 5 }), context);
    expect(report).toMatchObject({ target: 'gateway 1', gateway: 1, heldConnections: 5, disconnects: 5, reconnectedAtS: 6.6 });
    expect(describeHit(report, 'short')).toBe('gateway 1 (held 5 device connections)');
  });

  it('with the one gateway, the devices cannot be back before it listens again', () => {
    const report = reportFault(gatewayKill('gateway-kill@5+15', 0, 20_000), load([{ from: 50, to: 200 }], { 50: 10 }, { 205: 10 }), context);
    expect(report).toMatchObject({ target: 'gateway', gateway: 0, heldConnections: null, disconnects: 10, reconnectedAtS: 20.6 });
    expect(describeHit(report, 'long')).toBe('gateway');
  });
});
