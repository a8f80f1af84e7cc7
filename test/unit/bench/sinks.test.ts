import { describe, expect, it } from 'vitest';
import { createSinkTally, describeSinkWrites } from '../../../bench/sinks.js';
import { formatSinks } from '../../../bench/report.js';
import { benchDeviceId, BENCH_METRIC, sequenceValue } from '../../../bench/payload.js';
import type { Reading } from '../../../core/reading.js';

const RUN = 'abcd1234';
const T0 = 1_800_000_000_000;

/** A forwarded message as the forwarder writes it: the reading's JSON, as the gateway made it of a bench payload. */
function body(deviceIndex: number, message: number, publishedAt: number, runId = RUN): Buffer {
  const reading: Reading = {
    deviceId: benchDeviceId(deviceIndex),
    metric: BENCH_METRIC,
    value: sequenceValue(deviceIndex, message),
    ts: publishedAt,
    timeNs: `${publishedAt}000000`,
    receivedAt: publishedAt + 1,
    tags: { run: runId, pad: 'xxxx' },
  };
  return Buffer.from(JSON.stringify(reading));
}

/** Acknowledged rows as the load returns them: device index → 1 per acknowledged message. */
function acked(rows: Record<number, number[]>): Map<number, Uint8Array> {
  return new Map(Object.entries(rows).map(([device, flags]) => [Number(device), Uint8Array.from(flags)]));
}

describe('the forward-sink tally of sluice bench --sink', () => {
  it('counts every message, each reading once by its id, and the repeats of a redelivery as duplicates', () => {
    const tally = createSinkTally('rabbitmq', RUN);
    tally.add({ body: body(0, 0, T0), arrivedAt: T0 + 10 });
    tally.add({ body: body(0, 1, T0 + 50), arrivedAt: T0 + 60 });
    tally.add({ body: body(1, 0, T0), arrivedAt: T0 + 20 });
    // A retried write repeats what the server had already taken.
    tally.add({ body: body(0, 0, T0), arrivedAt: T0 + 900 });
    tally.add({ body: body(0, 1, T0 + 50), arrivedAt: T0 + 900 });
    const figures = tally.figures({ firstSendAt: T0, lastAckAt: T0 + 1000 }, acked({ 0: [1, 1], 1: [1] }));
    expect(figures).toMatchObject({ sink: 'rabbitmq', forwarded: 5, distinct: 3, duplicates: 2, lost: 0 });
    expect(tally.distinct()).toBe(3);
  });

  it('reports as lost the acknowledged readings that never arrived, not the unacknowledged ones', () => {
    const tally = createSinkTally('kinesis', RUN);
    const rows = acked({ 0: [1, 1, 1, 0], 1: [1, 1] });
    expect(tally.missing(rows)).toBe(5);
    tally.add({ body: body(0, 0, T0), arrivedAt: T0 + 5 });
    tally.add({ body: body(0, 2, T0 + 100), arrivedAt: T0 + 105 });
    // Arrived though never acknowledged (in flight at the end of the load): counted, not lost, not missing.
    tally.add({ body: body(0, 3, T0 + 150), arrivedAt: T0 + 155 });
    tally.add({ body: body(1, 1, T0 + 50), arrivedAt: T0 + 55 });
    expect(tally.missing(rows)).toBe(2);
    const figures = tally.figures({ firstSendAt: T0, lastAckAt: T0 + 200 }, rows);
    expect(figures).toMatchObject({ forwarded: 4, distinct: 4, duplicates: 0, lost: 2, drainS: null });
  });

  it('leaves out messages that are not readings of this run: another run, another metric, not JSON', () => {
    const tally = createSinkTally('pulsar', RUN);
    tally.add({ body: body(0, 0, T0, 'otherrun'), arrivedAt: T0 });
    tally.add({ body: Buffer.from('not json'), arrivedAt: T0 });
    tally.add({ body: Buffer.from(JSON.stringify({ deviceId: 'probe', metric: 'temp', value: 1, ts: T0, timeNs: `${T0}000000`, receivedAt: T0, tags: { run: RUN } })), arrivedAt: T0 });
    tally.add({ body: body(0, 0, T0), arrivedAt: T0 + 1 });
    expect(tally.foreign()).toBe(3);
    expect(tally.figures({ firstSendAt: T0, lastAckAt: T0 + 10 }, acked({ 0: [1] }))).toMatchObject({ forwarded: 1, distinct: 1, lost: 0 });
  });

  it('times publish → arrival of the first copy of each reading published after the warm-up', () => {
    const tally = createSinkTally('rabbitmq', RUN);
    tally.measureFrom(T0 + 1000);
    // Warm-up: counted, not timed.
    tally.add({ body: body(0, 0, T0), arrivedAt: T0 + 5000 });
    for (let i = 1; i <= 100; i++) tally.add({ body: body(0, i, T0 + 1000 + i), arrivedAt: T0 + 1000 + i + (i === 100 ? 400 : 20) });
    // A duplicate of a timed reading, much later, is not timed again.
    tally.add({ body: body(0, 5, T0 + 1005), arrivedAt: T0 + 60_000 });
    const { latencyMs } = tally.figures({ firstSendAt: T0, lastAckAt: T0 + 2000 }, acked({ 0: Array(101).fill(1) as number[] }));
    expect(latencyMs.p50).toBe(20);
    expect(latencyMs.p99).toBe(20);
    expect(tally.figures({ firstSendAt: T0, lastAckAt: T0 + 2000 }, new Map()).latencyMs).toEqual({ p50: 20, p99: 20 });
  });

  it('measures forwarded/s over the load window (first publish → last PUBACK) and the drain after it', () => {
    const tally = createSinkTally('rabbitmq', RUN);
    // 10 readings a second for 4 s arrive within the window; 6 more arrive after it, the last 2.5 s after the last PUBACK.
    for (let i = 0; i < 40; i++) tally.add({ body: body(0, i, T0 + i * 100), arrivedAt: T0 + i * 100 + 50 });
    for (let i = 40; i < 46; i++) tally.add({ body: body(0, i, T0 + 3950 + i), arrivedAt: T0 + 4000 + (i - 39) * 400 + 100 });
    const rows = acked({ 0: Array(46).fill(1) as number[] });
    const figures = tally.figures({ firstSendAt: T0, lastAckAt: T0 + 4000 }, rows);
    expect(figures.perSec).toBe(10);
    expect(figures.drainS).toBe(2.5);
    expect(figures.lost).toBe(0);
    expect(tally.lastArrivalAt()).toBe(T0 + 6500);
    expect(tally.firstArrivalAt()).toBe(T0 + 50);
  });

  it('has no latency and no drain when nothing arrived, and every acknowledged reading is lost', () => {
    const figures = createSinkTally('kinesis', RUN).figures({ firstSendAt: T0, lastAckAt: T0 + 1000 }, acked({ 0: [1, 1, 1] }));
    expect(figures).toEqual({ sink: 'kinesis', forwarded: 0, distinct: 0, duplicates: 0, lost: 3, perSec: 0, latencyMs: { p50: null, p99: null }, drainS: null });
  });
});

describe('the forward-sink table', () => {
  it('shows per sink forwarded/s beside ingest/s, p50 / p99, lost, duplicates and the drain', () => {
    const table = formatSinks(
      [
        { sink: 'rabbitmq', forwarded: 80_120, distinct: 80_000, duplicates: 120, lost: 0, perSec: 3_950, latencyMs: { p50: 41, p99: 230 }, drainS: 0.4 },
        { sink: 'pulsar', forwarded: 60_000, distinct: 60_000, duplicates: 0, lost: 20_000, perSec: 2_900, latencyMs: { p50: null, p99: null }, drainS: null },
      ],
      3_990,
    );
    const rows = table.split('\n').filter((line) => line.includes('rabbitmq') || line.includes('pulsar'));
    expect(table).toContain('forwarded/s (ingest/s)');
    expect(rows[0]).toMatch(/rabbitmq\s*│\s*3,950 \(3,990\)\s*│\s*41 \/ 230\s*│\s*0\s*│\s*120\s*│\s*0\.4\s*│\s*80,120 \(80,000\)/);
    expect(rows[1]).toMatch(/pulsar\s*│\s*2,900 \(3,990\)\s*│\s*n\/a \/ n\/a\s*│\s*20,000 \(target 0\)\s*│\s*0\s*│\s*not drained/);
  });
});

describe("the forwarder's view of its writes", () => {
  it('reads writes, readings per write, time per write and retries of one sink from /metrics texts', () => {
    const text = [
      'sluice_sink_write_seconds_sum{sink="rabbitmq"} 12.5',
      'sluice_sink_write_seconds_count{sink="rabbitmq"} 250',
      'sluice_sink_write_seconds_count{sink="store"} 999',
      'sluice_sink_records_total{sink="rabbitmq"} 80000',
      'sluice_sink_retries_total{sink="rabbitmq"} 2',
    ].join('\n');
    expect(describeSinkWrites('rabbitmq', text)).toBe("sink rabbitmq (the forwarder's own metrics): 250 writes of 320 readings on average, 50.0 ms each until acknowledged; 2 retried");
    expect(describeSinkWrites('kinesis', text)).toBeUndefined();
  });
});
