/**
 * Where the time went inside Sluice, from its own Prometheus histograms: the bench measures from
 * outside, and this says which stage to look at when a number misses.
 */
export interface StageStats {
  count: number;
  /** Mean of the histogram (seconds for latency histograms, records for batch sizes). */
  mean: number | null;
}

export type Stages = Record<'producerBatchSeconds' | 'producerBatchRecords' | 'storeWriteSeconds' | 'ingestAckSeconds', StageStats>;

const HISTOGRAMS: Record<keyof Stages, string> = {
  producerBatchSeconds: 'sluice_producer_batch_seconds',
  producerBatchRecords: 'sluice_producer_batch_records',
  storeWriteSeconds: 'sluice_store_write_seconds',
  ingestAckSeconds: 'sluice_ingest_ack_seconds',
};

export function parseStages(metricsText: string): Stages {
  const value = (name: string): number | undefined => {
    const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(metricsText);
    return match ? Number(match[1]) : undefined;
  };
  const stages = {} as Stages;
  for (const [key, metric] of Object.entries(HISTOGRAMS) as [keyof Stages, string][]) {
    const count = value(`${metric}_count`) ?? 0;
    const sum = value(`${metric}_sum`) ?? 0;
    stages[key] = { count, mean: count > 0 ? sum / count : null };
  }
  return stages;
}

/** Scrapes every Sluice process of the run and adds their histograms up (roles may be split). */
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
  if (texts.length === 0) return undefined;
  const parts = texts.map(parseStages);
  const merged = {} as Stages;
  for (const key of Object.keys(HISTOGRAMS) as (keyof Stages)[]) {
    const count = parts.reduce((n, p) => n + p[key].count, 0);
    const sum = parts.reduce((n, p) => n + (p[key].mean ?? 0) * p[key].count, 0);
    merged[key] = { count, mean: count > 0 ? sum / count : null };
  }
  return merged;
}

export function describeStages(stages: Stages): string {
  const ms = (s: StageStats) => (s.mean === null ? 'n/a' : `${(s.mean * 1000).toFixed(1)} ms`);
  return (
    `stages (Sluice's own metrics): ${stages.producerBatchSeconds.count} Kafka batches of ${stages.producerBatchRecords.mean?.toFixed(0) ?? 'n/a'} records on average, ` +
    `${ms(stages.producerBatchSeconds)} each; ${stages.storeWriteSeconds.count} store writes, ${ms(stages.storeWriteSeconds)} each; ` +
    `publish admitted (Kafka acked) after ${ms(stages.ingestAckSeconds)} on average inside the gateway`
  );
}
