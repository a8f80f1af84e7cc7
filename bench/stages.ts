/**
 * Where the time went inside Sluice, from its own Prometheus histograms: the bench measures from
 * outside, and this says which stage to look at when a number misses.
 */
export interface StageStats {
  count: number;
  /** Mean of the histogram (seconds for latency histograms, records for batch sizes). */
  mean: number | null;
  /** Upper bound of the bucket that holds the 99th percentile; null when empty or beyond the last bound. */
  p99AtMost: number | null;
}

export type Stages = Record<'producerBatchSeconds' | 'producerBatchRecords' | 'storeWriteSeconds' | 'ingestAckSeconds', StageStats>;

const HISTOGRAMS: Record<keyof Stages, string> = {
  producerBatchSeconds: 'sluice_producer_batch_seconds',
  producerBatchRecords: 'sluice_producer_batch_records',
  storeWriteSeconds: 'sluice_store_write_seconds',
  ingestAckSeconds: 'sluice_ingest_ack_seconds',
};

/** One histogram as exported: count, sum and cumulative bucket counts by upper bound. */
interface RawHistogram {
  count: number;
  sum: number;
  buckets: Map<number, number>;
}

function parseHistogram(metricsText: string, metric: string): RawHistogram {
  const value = (name: string): number => {
    const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(metricsText);
    return match ? Number(match[1]) : 0;
  };
  const buckets = new Map<number, number>();
  for (const match of metricsText.matchAll(new RegExp(`^${metric}_bucket\\{le="([^"]+)"\\} ([0-9.e+-]+)$`, 'gm'))) {
    const bound = match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(match[2]));
  }
  return { count: value(`${metric}_count`), sum: value(`${metric}_sum`), buckets };
}

function statsOf(histogram: RawHistogram): StageStats {
  const { count, sum, buckets } = histogram;
  let p99AtMost: number | null = null;
  if (count > 0) {
    const bound = [...buckets].sort((a, b) => a[0] - b[0]).find(([, cumulative]) => cumulative >= 0.99 * count)?.[0];
    p99AtMost = bound !== undefined && Number.isFinite(bound) ? bound : null;
  }
  return { count, mean: count > 0 ? sum / count : null, p99AtMost };
}

function merge(parts: RawHistogram[]): RawHistogram {
  const buckets = new Map<number, number>();
  for (const part of parts) for (const [bound, cumulative] of part.buckets) buckets.set(bound, (buckets.get(bound) ?? 0) + cumulative);
  return { count: parts.reduce((n, p) => n + p.count, 0), sum: parts.reduce((n, p) => n + p.sum, 0), buckets };
}

/** The stage histograms of one or more /metrics texts (roles may run as several processes), added up. */
export function parseStages(...metricsTexts: string[]): Stages {
  const stages = {} as Stages;
  for (const [key, metric] of Object.entries(HISTOGRAMS) as [keyof Stages, string][]) {
    stages[key] = statsOf(merge(metricsTexts.map((text) => parseHistogram(text, metric))));
  }
  return stages;
}

/** Scrapes every Sluice process of the run and adds their histograms up. */
export async function scrapeStages(ports: number[], token: string): Promise<Stages | undefined> {
  const texts: string[] = [];
  for (const port of ports) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      if (response.ok) texts.push(await response.text());
    } catch {
      // a process that is gone contributes nothing
    }
  }
  return texts.length === 0 ? undefined : parseStages(...texts);
}

export function describeStages(stages: Stages): string {
  const ms = (s: StageStats) => (s.mean === null ? 'n/a' : `${(s.mean * 1000).toFixed(1)} ms`);
  const p99 = (s: StageStats) => (s.p99AtMost === null ? 'p99 above the last bucket' : `p99 ≤ ${s.p99AtMost * 1000} ms`);
  return (
    `stages (Sluice's own metrics): ${stages.producerBatchSeconds.count} Kafka batches of ${stages.producerBatchRecords.mean?.toFixed(0) ?? 'n/a'} records on average, ` +
    `${ms(stages.producerBatchSeconds)} each (${p99(stages.producerBatchSeconds)}); ${stages.storeWriteSeconds.count} store writes, ${ms(stages.storeWriteSeconds)} each; ` +
    `publish admitted (Kafka acked) after ${ms(stages.ingestAckSeconds)} on average inside the gateway (${p99(stages.ingestAckSeconds)}, warm-up included)`
  );
}
