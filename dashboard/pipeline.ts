import type { Histogram } from 'prom-client';
import type { RulesReport, Severity } from '../core/alerts.js';
import type { Metrics } from '../core/metrics.js';
import type { ReadinessCheck, SinkStatus, WriterStatus } from '../core/seams.js';
import type { AlertCounts, LagReport, PipelineSnapshot, RulesPipelineReport, SinkReport, WriterReport } from './protocol.js';

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
  ruleEvaluations: number;
  /** Readings acknowledged per sink (sluice_sink_records_total). */
  sinkRecords: Record<string, number>;
}



export interface PipelineMonitorOptions {
  mode: 'embedded' | 'production';
  roles: readonly string[];
  /** The rules stage's consumer group when it is not named `…-rules` (KAFKA_RULES_GROUP). */
  rulesGroupId?: string;
  /** The forward sinks this deployment configures, with their consumer groups (shown even when they run elsewhere). */
  sinkGroups?: readonly { sink: string; groupId: string }[];
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
  /** The dashboard's alert book: open alerts, and transitions by severity when the rules run elsewhere. */
  alerts?: { counts(): AlertCounts; transitionCounts(): Record<Severity, number> };
  /** The rules role's report, when it runs in this process. */
  rules?: () => RulesReport;
  /** The forwarder's sink loops, when it runs in this process. */
  sinks?: () => SinkStatus[];
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

async function histogramBuckets(metric: Histogram): Promise<{ bounds: number[]; cumulative: number[]; sum: number }> {
  const { values } = await metric.get();
  const sum = values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
  const buckets = values
    .filter((v) => v.metricName?.endsWith('_bucket'))
    .map((v) => ({ le: v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
  return {
    bounds: buckets.filter((b) => Number.isFinite(b.le)).map((b) => b.le),
    cumulative: buckets.map((b) => b.count),
    sum,
  };
}

/** Sums of a labelled counter per value of one label. */
async function sumsBy(metric: { get(): Promise<{ values: { value: number; labels: Record<string, string | number | undefined> }[] }> }, label: string): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  for (const v of (await metric.get()).values) {
    const key = String(v.labels[label] ?? 'unknown');
    sums[key] = (sums[key] ?? 0) + v.value;
  }
  return sums;
}

/** The rules consumer groups are named `…-rules` unless KAFKA_RULES_GROUP names one. */
export const isRulesGroup = (groupId: string, configured?: string): boolean => groupId.endsWith('-rules') || groupId === configured;

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
  const hasRules = options.roles.includes('rules');
  // A histogram keeps no "latest" observation: the latest restore is what the count and sum grew by when they last grew.
  const restores = { count: 0, sum: 0, lastSec: null as number | null };

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
      ruleEvaluations: await sumOf(m.ruleEvaluations),
      sinkRecords: await sumsBy(m.sinkRecords, 'sink'),
    };
  }

  /** Each configured sink: its loop's state where it runs here, and its group's lag from Kafka wherever it runs. */
  function sinkReports(lag: LagReport, base: PipelineSample, current: PipelineSample): SinkReport[] {
    const local = new Map((deps.sinks?.() ?? []).map((status) => [status.sink as string, status]));
    const groups = options.sinkGroups ?? [...local.values()].map((status) => ({ sink: status.sink, groupId: status.groupId }));
    return groups.map(({ sink, groupId }) => {
      const groupLag = lag.available ? lag.groups.filter((g) => g.groupId === groupId) : [];
      const lagRecords = lag.available && groupLag.length > 0 ? groupLag.reduce((n, g) => n + g.totalLag, 0) : null;
      const status = local.get(sink);
      if (!status) return { sink, groupId, state: 'elsewhere', recordsPerSec: null, refused: null, lagRecords, lagSec: null };
      const lagSec =
        lagRecords === 0 ? 0 : lagRecords !== null && status.lastDeliveredTs !== undefined ? round1(Math.max(0, current.at - status.lastDeliveredTs) / 1000) : null;
      return {
        sink,
        groupId,
        state: status.state,
        recordsPerSec: round1(ratePerSec(base.sinkRecords[sink] ?? 0, current.sinkRecords[sink] ?? 0, current.at - base.at)),
        refused: status.refused,
        lagRecords,
        lagSec,
        ...(status.lastError !== undefined ? { lastError: status.lastError } : {}),
        ...(status.failingSince !== undefined ? { failingSince: status.failingSince } : {}),
        ...(status.connection ? { connection: status.connection } : {}),
      };
    });
  }

  async function rulesReport(lag: LagReport, evaluationsPerSec: number): Promise<RulesPipelineReport | undefined> {
    const m = deps.metrics;
    const restore = await histogramBuckets(m.rulesStateRestoreSeconds);
    const restoreCount = restore.cumulative[restore.cumulative.length - 1] ?? 0;
    if (restoreCount > restores.count) {
      restores.lastSec = round3((restore.sum - restores.sum) / (restoreCount - restores.count));
      restores.count = restoreCount;
      restores.sum = restore.sum;
    }
    const rulesLag = lag.groups.filter((g) => isRulesGroup(g.groupId, options.rulesGroupId));
    const heard = deps.alerts?.transitionCounts();
    const heardAny = heard !== undefined && heard.info + heard.warning + heard.critical > 0;
    const evaluations = await sumOf(m.ruleEvaluations);
    if (!hasRules && !deps.rules && rulesLag.length === 0 && !heardAny && evaluations === 0 && restoreCount === 0) return undefined;

    let bySeverity: Record<Severity, number> = heard ?? { info: 0, warning: 0, critical: 0 };
    if (hasRules) {
      const written = await sumsBy(m.alertTransitions, 'severity');
      bySeverity = { info: written.info ?? 0, warning: written.warning ?? 0, critical: written.critical ?? 0 };
    }
    const p99 = histogramQuantile(0.99, restore.bounds, restore.cumulative);
    const reloads = await sumsBy(m.rulesReloads, 'outcome');
    const notifications = await sumsBy(m.alertNotifications, 'outcome');
    const report = deps.rules?.();
    return {
      inProcess: hasRules,
      evaluationsPerSec: hasRules ? evaluationsPerSec : null,
      lateReadings: hasRules ? await sumOf(m.ruleLateReadings) : null,
      transitions: { bySeverity, source: hasRules ? 'metrics' : 'live-feed' },
      open: deps.alerts?.counts() ?? { open: 0, unacknowledged: 0, bySeverity: { info: 0, warning: 0, critical: 0 } },
      restoreSec: { last: restores.lastSec, p99: p99 === null ? null : round3(p99), count: restoreCount },
      reloads: hasRules ? { loaded: reloads.loaded ?? 0, invalid: reloads.invalid ?? 0 } : null,
      notifications: hasRules ? { sent: notifications.sent ?? 0, retried: notifications.retried ?? 0, failed: notifications.failed ?? 0 } : null,
      ...(report
        ? {
            file: {
              source: report.source,
              loadedAt: report.loadedAt,
              rules: report.rules.length,
              enabled: report.rules.filter((r) => r.enabled).length,
              ...(report.error !== undefined ? { error: report.error } : {}),
            },
          }
        : {}),
      lag: rulesLag,
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

      const rules = await rulesReport(lag, rate((s) => s.ruleEvaluations));

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
        sinks: sinkReports(lag, base, current),
        deadLetters: { byReason, source: hasBridge ? 'metrics' : 'live-feed' },
        backends: Object.fromEntries(checks),
        lag,
        history,
        ...(rules ? { rules } : {}),
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

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
