import { expect } from 'vitest';

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

/**
 * Reads series back from VictoriaMetrics' export API (`{measurement}_{field}` with tags as labels).
 * A force_flush first makes just-written points visible.
 */
export async function exportSeries(influxUrl: string, selector: string): Promise<ExportedSeries[]> {
  await fetch(new URL('/internal/force_flush', influxUrl));
  const url = new URL('/api/v1/export', influxUrl);
  url.searchParams.set('match[]', selector);
  url.searchParams.set('start', '0');
  const response = await fetch(url);
  if (!response.ok) throw new Error(`export failed: HTTP ${response.status} ${await response.text()}`);
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as ExportedSeries);
}

/** Polls until the selector returns at least `minPoints` points in total, or the deadline passes. */
export async function waitForPoints(influxUrl: string, selector: string, minPoints: number, timeoutMs = 20_000): Promise<ExportedSeries[]> {
  let series: ExportedSeries[] = [];
  await expect
    .poll(
      async () => {
        series = await exportSeries(influxUrl, selector);
        return series.reduce((n, s) => n + s.values.length, 0);
      },
      { timeout: timeoutMs, interval: 200 },
    )
    .toBeGreaterThanOrEqual(minPoints);
  return series;
}
