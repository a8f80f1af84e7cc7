import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import { applyMetricUpdate, bufferedRelayedMetrics, relayLogLine, threadLogger, type MetricUpdate } from '../../../core/threads.js';

describe('thread relays', () => {
  it('applies a thread’s counter, labelled counter and histogram updates to the main registry', async () => {
    const main = createMetrics();
    const updates: MetricUpdate[] = [];
    const inThread = bufferedRelayedMetrics((posted) => updates.push(...posted), 60_000);
    inThread.storeWrites.inc(120);
    inThread.rejections.inc({ code: 'STORE_REJECTED' });
    inThread.storeWriteSeconds.observe(0.2);
    inThread.flush();
    // Structured clone on the way, as between threads.
    for (const update of structuredClone(updates)) applyMetricUpdate(main, update);

    expect((await main.storeWrites.get()).values[0]!.value).toBe(120);
    expect((await main.rejections.get()).values).toEqual([expect.objectContaining({ labels: { code: 'STORE_REJECTED' }, value: 1 })]);
    const histogram = await main.storeWriteSeconds.get();
    expect(histogram.values.find((v) => v.metricName === 'sluice_store_write_seconds_count')!.value).toBe(1);
  });

  it('holds per-message updates and posts them together, counter steps on the same labels summed', async () => {
    const posted: MetricUpdate[][] = [];
    const inThread = bufferedRelayedMetrics((updates) => posted.push(updates), 60_000);
    inThread.readingsNormalized.inc(2);
    inThread.readingsNormalized.inc(3);
    inThread.rejections.inc({ code: 'INVALID_JSON' });
    inThread.rejections.inc({ code: 'INVALID_JSON' });
    inThread.rejections.inc({ code: 'TOO_LARGE' }, 4);
    inThread.inflightReadings.inc(10);
    inThread.inflightReadings.dec(7);
    inThread.producerBatchSeconds.observe(0.05);
    expect(posted).toEqual([]);
    inThread.flush();
    expect(posted).toHaveLength(1);
    const main = createMetrics();
    for (const update of posted[0]!) applyMetricUpdate(main, update);
    expect((await main.readingsNormalized.get()).values[0]!.value).toBe(5);
    expect((await main.rejections.get()).values.map((v) => [v.labels.code, v.value])).toEqual([
      ['INVALID_JSON', 2],
      ['TOO_LARGE', 4],
    ]);
    expect((await main.inflightReadings.get()).values[0]!.value).toBe(3);
    expect((await main.producerBatchSeconds.get()).values.find((v) => v.metricName === 'sluice_producer_batch_seconds_count')!.value).toBe(1);
    inThread.flush();
    expect(posted).toHaveLength(1); // nothing new, nothing posted
  });

  it('ignores updates for unknown metrics or methods instead of throwing', () => {
    const main = createMetrics();
    expect(() => applyMetricUpdate(main, { metric: 'noSuchMetric', method: 'inc', args: [] })).not.toThrow();
    expect(() => applyMetricUpdate(main, { metric: 'storeWrites', method: 'reset' as never, args: [] })).not.toThrow();
  });

  it('logs a thread’s line again with its level and fields, under the main logger', () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const main = createLogger('info', { destination }).child({ module: 'writer-thread' });
    const posted: string[] = [];
    const inThread = threadLogger('debug', 'writer', (line) => posted.push(line));
    inThread.warn({ outageMs: 1200 }, 'store writes succeed again');
    inThread.debug('below the main level');
    for (const line of posted) relayLogLine(main, line);
    relayLogLine(main, 'not json');

    expect(lines[0]).toMatchObject({ level: 40, module: 'writer-thread', thread: 'writer', outageMs: 1200, msg: 'store writes succeed again' });
    expect(lines.some((l) => l.msg === 'below the main level')).toBe(false);
    expect(lines[1]).toMatchObject({ level: 40, line: 'not json', msg: 'unreadable log line from a worker thread' });
  });
});
