import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import { relayLogLine, threadLogger } from '../../../core/log-relay.js';
import { applyMetricUpdate, bufferedRelayedMetrics, type MetricUpdate } from '../../../core/metric-relay.js';
import { startFailed, superviseThread } from '../../../core/threads.js';
import { ErrorCodes, sluiceError, type ErrorCode } from '../../../core/errors.js';

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

describe('superviseThread', () => {
  const supervise = (source: string, failureCode: ErrorCode) =>
    superviseThread({
      name: 'test stage',
      failureCode,
      spawn: () => new Worker(source, { eval: true }),
      log: createLogger('silent'),
      metrics: createMetrics(),
      onMessage: () => undefined,
      closeMessage: { type: 'close' },
      restartDelayMs: 10,
      closeTimeoutMs: 1000,
    });

  it('fails a start with the stage’s own code, or the code the thread reported', async () => {
    const post = (message: object) => `require('node:worker_threads').parentPort.postMessage(${JSON.stringify(message)})`;
    await expect(supervise(post({ type: 'start-failed', message: 'no broker' }), ErrorCodes.WRITER_UNAVAILABLE).start()).rejects.toMatchObject({ code: 'WRITER_UNAVAILABLE' });
    await expect(supervise(post({ type: 'start-failed', message: 'store says no', code: 'STORE_UNAVAILABLE' }), ErrorCodes.WRITER_UNAVAILABLE).start()).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: 'test stage did not start: store says no',
    });
    await expect(supervise('process.exit(3)', ErrorCodes.KAFKA_UNAVAILABLE).start()).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE', message: 'test stage thread exited with code 3 while starting' });
  });

  it('startFailed keeps a known error code and nothing else', () => {
    expect(startFailed(sluiceError(ErrorCodes.STORE_UNAUTHORIZED, 'token refused'))).toEqual({ type: 'start-failed', message: 'token refused', code: 'STORE_UNAUTHORIZED' });
    expect(startFailed(new Error('plain'))).toEqual({ type: 'start-failed', message: 'plain' });
    expect(startFailed('text')).toEqual({ type: 'start-failed', message: 'text' });
  });
});
