/**
 * What the bench measures from outside the pipeline while the load runs: the live push, as a socket.io client of
 * the dashboard, and the store, by reading it back.
 */
import * as hdr from 'hdr-histogram-js';
import { io, type Socket } from 'socket.io-client';
import type { StoredPoint } from './accounting.js';
import type { BenchLog } from './log.js';
import { BENCH_METRIC, decodeSequence } from './payload.js';
import { exportPoints, runSelector, sampleExportStart } from './store.js';

export interface LiveMeter {
  pushed(): number;
  /** Readings published before this (epoch ms) are counted, not timed. */
  measureFrom(epochMs: number): void;
  histogram: hdr.Histogram;
  reason?: string;
  close(): void;
}

/**
 * Live push is measured on the device rooms of a sample of devices, as the dashboard's device view receives
 * them. The `fleet:readings` firehose (every reading of every device) would cost the bench's own socket.io
 * client ~40 µs of CPU per message, taken from the same cores the pipeline runs on.
 */
export const LATENCY_SAMPLE_DEVICES = 32;

export async function connectLive(port: number, token: string, sampleIds: readonly string[], messagesPerDevice: number, log: BenchLog): Promise<LiveMeter> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  let pushed = 0;
  // First arrival per message only: a reading pushed again (redelivery) is not a new push.
  const seen = new Map<number, Uint8Array>();
  // Reconnects (and joins its rooms again) when a fault restarts the process serving the dashboard.
  const socket: Socket = io(`http://127.0.0.1:${port}`, { auth: { token }, transports: ['websocket'], reconnectionDelay: 250, reconnectionDelayMax: 2000, timeout: 5000 });
  let timedFrom = Number.POSITIVE_INFINITY;
  const meter: LiveMeter = { pushed: () => pushed, histogram, close: () => socket.close(), measureFrom: (epochMs) => (timedFrom = epochMs) };
  socket.on('readings', (frame: { readings?: { metric: string; ts: number; value: unknown }[]; dropped?: number }) => {
    const now = Date.now();
    for (const reading of frame.readings ?? []) {
      if (reading.metric !== BENCH_METRIC || typeof reading.value !== 'number') continue;
      const { deviceIndex, message } = decodeSequence(reading.value);
      let row = seen.get(deviceIndex);
      if (!row) seen.set(deviceIndex, (row = new Uint8Array(messagesPerDevice + 1)));
      if (message >= row.length || row[message] === 1) continue;
      row[message] = 1;
      pushed++;
      if (reading.ts >= timedFrom) histogram.recordValue(Math.max(1, now - reading.ts));
    }
  });
  const join = (room: string): Promise<string | undefined> =>
    new Promise((resolve) => socket.emit('join', room, (result: { ok: boolean; error?: string }) => resolve(result?.ok ? undefined : `join ${room} refused: ${result?.error ?? 'no reason'}`)));
  let refusal: Error | undefined;
  const joined = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve('no socket.io answer on the dashboard port within 5 s'), 5000);
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      refusal = error;
      resolve(`socket.io connection refused: ${error.message}`);
    });
    socket.once('connect', () => {
      void Promise.all(sampleIds.map((id) => join(`device:${id}`))).then((refusals) => {
        clearTimeout(timer);
        resolve(refusals.find((refusal) => refusal !== undefined));
        socket.on('connect', () => void Promise.all(sampleIds.map((id) => join(`device:${id}`))));
      });
    });
  });
  if (joined) {
    meter.reason = joined;
    socket.close();
    log(`live push not measured: ${joined}`, refusal ? { err: refusal } : {});
  }
  return meter;
}

/**
 * Polls a sample of devices' series and records, per new point, when it first became readable; and per poll how
 * far behind real time the sampled devices' newest points were (for the store's catch-up after a fault).
 */
export interface StoreSampler {
  histogram: hdr.Histogram;
  polls: { at: number; stalenessMs: number | null }[];
  /** Points stored from this (epoch ms) on are timed. */
  measureFrom(epochMs: number): void;
  stop(): Promise<void>;
}

export function sampleStoreLatency(url: string, runId: string, sampleIds: string[]): StoreSampler {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  const polls: { at: number; stalenessMs: number | null }[] = [];
  const seen = new Set<number>();
  const newestStored = new Map<string, number>();
  const runStartMs = Date.now();
  let timedFrom = Number.POSITIVE_INFINITY;
  let running = true;
  const loop = (async () => {
    while (running) {
      const pollAt = Date.now();
      try {
        for (const series of await exportPoints(url, runSelector(runId, sampleIds), sampleExportStart(newestStored, sampleIds, runStartMs))) {
          const device = series.metric.device;
          series.values.forEach((value, i) => {
            const ts = series.timestamps[i]!;
            if (device !== undefined && ts > (newestStored.get(device) ?? Number.NEGATIVE_INFINITY)) newestStored.set(device, ts);
            if (seen.has(value)) return;
            seen.add(value);
            if (ts >= timedFrom) histogram.recordValue(Math.max(1, pollAt - ts));
          });
        }
        let oldestNewest = Number.POSITIVE_INFINITY;
        for (const id of sampleIds) oldestNewest = Math.min(oldestNewest, newestStored.get(id) ?? Number.NEGATIVE_INFINITY);
        polls.push({ at: pollAt, stalenessMs: Number.isFinite(oldestNewest) ? pollAt - oldestNewest : null });
      } catch {
        // the next poll tries again
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 250 - (Date.now() - pollAt))));
    }
  })();
  return {
    histogram,
    polls,
    measureFrom: (epochMs) => (timedFrom = epochMs),
    async stop() {
      running = false;
      await loop;
    },
  };
}

export async function storedValues(url: string, runId: string): Promise<StoredPoint[]> {
  const points: StoredPoint[] = [];
  for (const series of await exportPoints(url, runSelector(runId))) {
    series.values.forEach((value, i) => points.push({ value, timestamp: series.timestamps[i]! }));
  }
  return points;
}
