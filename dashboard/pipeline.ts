import type { Metrics } from '../core/metrics.js';
import type { ReadinessCheck, WriterStatus } from '../core/seams.js';
import type { LagReport, PipelineSnapshot, WriterReport } from './protocol.js';

/**
 * What the pipeline view shows, computed from this process's prom-client registry (sampled once a second
 * into a bounded ring, so rates and latency percentiles cover the last few seconds rather than the whole
 * uptime), the readiness checks and, in production, the Kafka consumer lag.
 */

export interface PipelineSample {
  at: number;
  publishes: number;
  normalized: number;
  liveReadings: number;
  storeWrites: number;
  storeRetries: number;
  /** Cumulative counts per bucket upper bound of the ack latency histogram (seconds; last is +Inf). */
  ackBuckets: number[];
}



export interface PipelineMonitorOptions {
  mode: 'embedded' | 'production';
  roles: readonly string[];
  sampleMs?: number;
  /** Samples kept (one per `sampleMs`). */
  historyLength?: number;
  /** Window for rates and percentiles. */
  rateWindowMs?: number;
  now?: () => number;
}

export interface PipelineMonitorDeps {
  metrics: Metrics;
  readiness: readonly ReadinessCheck[];
  /** Dead letters per reason seen by the live feed, used when the bridge runs in another process. */
  deadLetterCounts: () => Record<string, number>;
  lag?: () => Promise<LagReport>;
  /** The writer's own state, when the wiring passes it; otherwise it is inferred from the store metrics. */
  writerStatus?: () => WriterStatus;
}

export interface PipelineMonitor {
  snapshot(): Promise<PipelineSnapshot>;
  /** Takes one sample now (the timer does it every `sampleMs`). */
  sample(): Promise<void>;
  close(): void;
}

/**
 * Prometheus-style quantile from cumulative bucket counts: linear interpolation inside the bucket the rank
 * falls in. `bounds` are the finite upper bounds; `cumulative` has one more entry for +Inf. Returns null
 * without observations; a rank in the +Inf bucket answers the largest finite bound.
 */
export function histogramQuantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < cumulative.length; i++) {
    const count = cumulative[i]!;
    if (count >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const upper = bounds[i]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const below = i === 0 ? 0 : cumulative[i - 1]!;
      const inBucket = count - below;
      if (inBucket <= 0) return upper;
      return lower + ((upper - lower) * (rank - below)) / inBucket;
    }
  }
  return bounds[bounds.length - 1] ?? null;
}

/** Per-second rate of a counter between two samples (0 when the counter was reset or no time passed). */
export function ratePerSec(older: number, newer: number, elapsedMs: number): number {
  if (elapsedMs <= 0 || newer < older) return 0;
  return ((newer - older) * 1000) / elapsedMs;
}

async function sumOf(metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  const { values } = await metric.get();
  let sum = 0;
  for (const v of values) sum += v.value;
  return sum;
}

async function histogramBuckets(metric: Metrics['ackLatency']): Promise<{ bounds: number[]; cumulative: number[] }> {
  const { values } = await metric.get();
  const buckets = values
    .filter((v) => v.metricName?.endsWith('_bucket'))
    .map((v) => ({ le: v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
  return {
    bounds: buckets.filter((b) => Number.isFinite(b.le)).map((b) => b.le),
    cumulative: buckets.map((b) => b.count),
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createPipelineMonitor(options: PipelineMonitorOptions, deps: PipelineMonitorDeps): PipelineMonitor {
  const now = options.now ?? Date.now;
  const sampleMs = options.sampleMs ?? 1000;
  const historyLength = options.historyLength ?? 180;
  const rateWindowMs = options.rateWindowMs ?? 5000;
  const startedAt = now();
  const samples: PipelineSample[] = [];
  let bounds: number[] = [];
  const hasWriter = options.roles.includes('writer');
  const hasBridge = options.roles.includes('bridge') || options.roles.includes('gateway');

  async function takeSample(): Promise<PipelineSample> {
    const m = deps.metrics;
    const ack = await histogramBuckets(m.ackLatency);
    bounds = ack.bounds;
    return {
      at: now(),
      publishes: await sumOf(m.mqttPublishes),
      normalized: await sumOf(m.readingsNormalized),
      liveReadings: await sumOf(m.liveReadings),
      storeWrites: await sumOf(m.storeWrites),
      storeRetries: await sumOf(m.storeRetries),
      ackBuckets: ack.cumulative,
    };
  }

  async function sample(): Promise<void> {
    samples.push(await takeSample());
    if (samples.length > historyLength) samples.splice(0, samples.length - historyLength);
  }

  /** The newest sample at least `windowMs` older than `newest` (or the oldest one we have). */
  function baseline(newest: PipelineSample, windowMs: number): PipelineSample | undefined {
    let found: PipelineSample | undefined;
    for (let i = samples.length - 1; i >= 0; i--) {
      const s = samples[i]!;
      if (s === newest) continue;
      found = s;
      if (newest.at - s.at >= windowMs) break;
    }
    return found;
  }

  let timer: NodeJS.Timeout | undefined = setInterval(() => void sample().catch(() => undefined), sampleMs);
  timer.unref?.();
  void sample().catch(() => undefined);

  return {
    sample,
    async snapshot() {
      const current = await takeSample();
      const base = baseline(current, rateWindowMs) ?? current;
      const elapsed = current.at - base.at;
      const rate = (pick: (s: PipelineSample) => number) => round1(ratePerSec(pick(base), pick(current), elapsed));

      // Latency over a longer window than rates, so a quiet second still shows the recent percentiles.
      const latencyBase = baseline(current, rateWindowMs * 2) ?? current;
      const ackDelta = current.ackBuckets.map((count, i) => count - (latencyBase.ackBuckets[i] ?? 0));
      const p50 = histogramQuantile(0.5, bounds, ackDelta);
      const p99 = histogramQuantile(0.99, bounds, ackDelta);

      const pointsPerSec = rate((s) => s.storeWrites);
      const retriesPerSec = rate((s) => s.storeRetries);
      let writer: WriterReport;
      if (deps.writerStatus) {
        const status = deps.writerStatus();
        writer = { ...status, pointsPerSec, retriesPerSec };
      } else if (!hasWriter) {
        writer = { state: 'absent', pointsPerSec, retriesPerSec };
      } else {
        writer = { state: retriesPerSec > 0 ? 'retrying' : pointsPerSec > 0 ? 'writing' : 'idle', pointsPerSec, retriesPerSec };
      }

      const checks = await Promise.all(
        deps.readiness.map(async ({ name, check }) => [name, await withTimeout(check(), 2000, false)] as const),
      );
      let byReason: Record<string, number>;
      if (hasBridge) {
        const { values } = await deps.metrics.rejections.get();
        byReason = Object.fromEntries(values.map((v) => [String(v.labels.code ?? 'unknown'), v.value]));
      } else {
        byReason = deps.deadLetterCounts();
      }
      const lag: LagReport = deps.lag
        ? await withTimeout(deps.lag(), 3000, { available: false, note: 'Kafka did not answer in time', groups: [] })
        : { available: false, note: options.mode === 'embedded' ? 'embedded mode: the in-process queue has no consumer lag to report' : 'not configured', groups: [] };

      const history = { at: [] as number[], ingestPerSec: [] as number[] };
      for (let i = 1; i < samples.length; i++) {
        const a = samples[i - 1]!;
        const b = samples[i]!;
        history.at.push(Math.round(b.at / 1000));
        history.ingestPerSec.push(round1(ratePerSec(a.normalized, b.normalized, b.at - a.at)));
      }

      return {
        mode: options.mode,
        roles: [...options.roles],
        at: current.at,
        uptimeSec: Math.round((current.at - startedAt) / 1000),
        ingestPerSec: rate((s) => s.normalized),
        publishesPerSec: rate((s) => s.publishes),
        liveReadingsPerSec: rate((s) => s.liveReadings),
        connectedDevices: await sumOf(deps.metrics.mqttConnections),
        socketClients: await sumOf(deps.metrics.socketClients),
        inflightRecords: await sumOf(deps.metrics.inflightReadings),
        ackLatencyMs: { p50: p50 === null ? null : round1(p50 * 1000), p99: p99 === null ? null : round1(p99 * 1000), windowSec: Math.round((current.at - latencyBase.at) / 1000) },
        writer,
        deadLetters: { byReason, source: hasBridge ? 'metrics' : 'live-feed' },
        backends: Object.fromEntries(checks),
        lag,
        history,
      };
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
