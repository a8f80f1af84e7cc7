/**
 * Runs the bench load in worker threads (./load-worker.ts) and merges their results. The main thread stays
 * free for measuring (store polling, the socket.io client), and with `workers` > 1 publishing can use more
 * than one core.
 */
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import type { ControlMessage, DeviceCounts, WorkerInput, WorkerMessage } from './load-worker.js';
import { addSeries, SERIES_BUCKET_MS } from './recovery.js';

export interface LoadOptions extends Omit<WorkerInput, 'devices'> {
  devices: { index: number; id: string; secret: string }[];
  workers: number;
  onProgress?: (progress: LoadProgress) => void;
  /** `startAt`: when the first publishes are due (epoch ms). */
  onConnected?: (connected: { connected: number; refused: number; failed: number; startAt: number }) => void;
}

export type LoadProgress = DeviceCounts;

export interface LoadResult extends LoadProgress {
  connected: number;
  refused: number;
  failed: number;
  startAt: number;
  firstSendAt: number;
  lastAckAt: number;
  /** publish → PUBACK, microseconds. */
  ackHistogram: hdr.Histogram;
  rows: Map<number, Uint8Array>;
  /** Acknowledgements, dropped connections and reconnects per `seriesBucketMs` from `startAt`. */
  ackedSeries: number[];
  disconnectSeries: number[];
  reconnectSeries: number[];
  /** Messages that fell due per bucket: the offered load as the generator ran it. */
  dueSeries: number[];
  seriesBucketMs: number;
}

const ZERO: LoadProgress = { sent: 0, acked: 0, errors: 0, throttled: 0, disconnects: 0, reconnects: 0, reconnectFailures: 0, resent: 0 };

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { workers: workerCount, devices, onProgress, onConnected, ...shared } = options;
  const count = Math.max(1, Math.min(workerCount, devices.length));
  const shares = Array.from({ length: count }, (_, w) => devices.filter((_, i) => i % count === w));
  const workerUrl = new URL('./load-worker.js', import.meta.url);
  const progress: LoadProgress[] = shares.map(() => ({ ...ZERO }));
  const connected = shares.map(() => ({ connected: 0, refused: 0, failed: 0 }));
  let connectedWorkers = 0;
  const workers: Worker[] = [];
  let releaseGo: (() => void) | undefined;
  const allConnected = new Promise<void>((resolve) => (releaseGo = resolve));

  const done = shares.map((share, w) => {
    const input: WorkerInput = { ...shared, devices: share };
    const worker = new Worker(workerUrl, { workerData: input });
    workers.push(worker);
    return new Promise<Extract<WorkerMessage, { type: 'done' }>>((resolve, reject) => {
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'connected') {
          connected[w] = { connected: message.connected, refused: message.refused, failed: message.failed };
          if (++connectedWorkers === count) releaseGo?.();
        } else if (message.type === 'progress') {
          const { type: _type, ...counts } = message;
          progress[w] = counts;
          onProgress?.(sum(progress));
        } else {
          resolve(message);
        }
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`load worker exited with ${code} before reporting`)));
    });
  });

  await allConnected;
  const totals = connected.reduce((a, b) => ({ connected: a.connected + b.connected, refused: a.refused + b.refused, failed: a.failed + b.failed }));
  const startAt = Date.now() + 200;
  onConnected?.({ ...totals, startAt });
  for (const worker of workers) worker.postMessage({ type: 'go', startAt } satisfies ControlMessage);
  const results = await Promise.all(done);
  await Promise.all(workers.map((worker) => worker.terminate()));

  const ackHistogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  const rows = new Map<number, Uint8Array>();
  for (const result of results) {
    ackHistogram.add(hdr.decodeFromCompressedBase64(result.ackHistogram));
    for (const [index, row] of result.rows) rows.set(index, row);
  }
  const firstSends = results.map((r) => r.firstSendAt).filter((t) => t > 0);
  return {
    ...sum(results),
    ...totals,
    startAt,
    firstSendAt: firstSends.length > 0 ? Math.min(...firstSends) : startAt,
    lastAckAt: Math.max(...results.map((r) => r.lastAckAt)),
    ackHistogram,
    rows,
    ackedSeries: addSeries(results.map((r) => r.ackedSeries)),
    disconnectSeries: addSeries(results.map((r) => r.disconnectSeries)),
    reconnectSeries: addSeries(results.map((r) => r.reconnectSeries)),
    dueSeries: addSeries(results.map((r) => r.dueSeries)),
    seriesBucketMs: SERIES_BUCKET_MS,
  };
}

function sum(parts: readonly LoadProgress[]): LoadProgress {
  const total = { ...ZERO };
  for (const part of parts) for (const key of Object.keys(total) as (keyof LoadProgress)[]) total[key] += part[key];
  return total;
}
