/**
 * Runs the bench load in worker threads (./load-worker.ts) and merges their results. The main thread stays
 * free for measuring (store polling, the socket.io client), and with `workers` > 1 publishing can use more
 * than one core.
 */
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import type { ControlMessage, WorkerInput, WorkerMessage } from './load-worker.js';

export interface LoadOptions extends Omit<WorkerInput, 'devices'> {
  devices: { index: number; id: string; secret: string }[];
  workers: number;
  onProgress?: (progress: LoadProgress) => void;
  /** `startAt`: when the first publishes are due (epoch ms). */
  onConnected?: (connected: { connected: number; refused: number; failed: number; startAt: number }) => void;
}

export interface LoadProgress {
  sent: number;
  acked: number;
  errors: number;
  throttled: number;
}

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
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { workers: workerCount, devices, onProgress, onConnected, ...shared } = options;
  const count = Math.max(1, Math.min(workerCount, devices.length));
  const shares = Array.from({ length: count }, (_, w) => devices.filter((_, i) => i % count === w));
  const workerUrl = new URL('./load-worker.js', import.meta.url);
  const progress = shares.map(() => ({ sent: 0, acked: 0, errors: 0, throttled: 0 }));
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
          progress[w] = message;
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
  };
}

function sum(parts: LoadProgress[]): LoadProgress {
  return parts.reduce(
    (a, b) => ({ sent: a.sent + b.sent, acked: a.acked + b.acked, errors: a.errors + b.errors, throttled: a.throttled + b.throttled }),
    { sent: 0, acked: 0, errors: 0, throttled: 0 },
  );
}
