/** Reading bench points back from the InfluxDB-compatible store (VictoriaMetrics export API, docs/contracts.md §15). */
import { BENCH_SERIES } from './payload.js';

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export async function exportPoints(url: string, selector: string, startMs = 0): Promise<ExportedSeries[]> {
  await fetch(new URL('/internal/force_flush', url));
  const target = new URL('/api/v1/export', url);
  target.searchParams.set('match[]', selector);
  target.searchParams.set('start', String(startMs / 1000));
  const response = await fetch(target);
  if (!response.ok) throw new Error(`store export failed: HTTP ${response.status} ${await response.text()}`);
  const text = await response.text();
  const series: ExportedSeries[] = [];
  for (const line of text.split('\n')) if (line.trim()) series.push(JSON.parse(line) as ExportedSeries);
  return series;
}

/** Raw points of the run in the store, duplicates included (a cheap count for polling). */
export async function countPoints(url: string, runId: string): Promise<number> {
  await fetch(new URL('/internal/force_flush', url));
  const target = new URL('/api/v1/query', url);
  target.searchParams.set('query', `sum(count_over_time(${BENCH_SERIES}{run="${runId}"}[1d]))`);
  const response = await fetch(target);
  if (!response.ok) throw new Error(`store query failed: HTTP ${response.status}`);
  const body = (await response.json()) as { data?: { result?: { value?: [number, string] }[] } };
  return Number(body.data?.result?.[0]?.value?.[1] ?? 0);
}

export function runSelector(runId: string, deviceIds?: string[]): string {
  const devices = deviceIds && deviceIds.length > 0 ? `,device=~"${deviceIds.join('|')}"` : '';
  return `${BENCH_SERIES}{run="${runId}"${devices}}`;
}

/**
 * Where the stored-latency sampler's next export starts. Each device's points reach the store in order (one
 * partition, written in order), so nothing older than the oldest of the sampled devices' newest stored points
 * can still be missing. Until every sampled device has a stored point, everything since `runStartMs` is read.
 * A fixed look-back would miss points once the store lags more than it, and report a floor instead.
 */
export function sampleExportStart(newestStored: ReadonlyMap<string, number>, sampleIds: readonly string[], runStartMs: number, marginMs = 1000): number {
  let oldest = Number.POSITIVE_INFINITY;
  for (const id of sampleIds) {
    const newest = newestStored.get(id);
    if (newest === undefined) return runStartMs;
    oldest = Math.min(oldest, newest);
  }
  return Math.max(runStartMs, oldest - marginMs);
}
