import type { Metrics } from './metrics.js';

/* A worker thread's metric updates travel to the main thread and are applied to the one /metrics registry. */

const METRIC_METHODS = ['inc', 'dec', 'set', 'observe'] as const;
export interface MetricUpdate {
  metric: string;
  method: (typeof METRIC_METHODS)[number];
  args: unknown[];
}

export function applyMetricUpdate(metrics: Metrics, update: MetricUpdate): void {
  if (!METRIC_METHODS.includes(update.method)) return;
  const target = (metrics as unknown as Record<string, Partial<Record<MetricUpdate['method'], (...args: unknown[]) => void>> | undefined>)[update.metric];
  target?.[update.method]?.(...update.args);
}

/**
 * Metrics for code running in a thread: inc/dec/set/observe are held and posted together every `intervalMs` (or
 * on `flush()`), and applied on the main thread (`applyMetricUpdate`). Counter steps on the same metric and
 * labels are summed into one; an unlabelled step only adds to a number, so counting per message stays cheap.
 */
export function bufferedRelayedMetrics(post: (updates: MetricUpdate[]) => void, intervalMs: number): Metrics & { flush(): void } {
  const unlabelled = new Map<string, { inc: number; dec: number }>();
  const labelled = new Map<string, { metric: string; method: 'inc' | 'dec'; labels: object; value: number }>();
  let others: MetricUpdate[] = [];
  const flush = (): void => {
    const updates = others;
    others = [];
    for (const [metric, sums] of unlabelled) {
      if (sums.inc !== 0) updates.push({ metric, method: 'inc', args: [sums.inc] });
      if (sums.dec !== 0) updates.push({ metric, method: 'dec', args: [sums.dec] });
    }
    unlabelled.clear();
    for (const { metric, method, labels, value } of labelled.values()) updates.push({ metric, method, args: [labels, value] });
    labelled.clear();
    if (updates.length > 0) post(updates);
  };
  setInterval(flush, intervalMs).unref();
  const step = (metric: string, method: 'inc' | 'dec', first: unknown, second: unknown): void => {
    if (typeof first !== 'object' || first === null) {
      let sums = unlabelled.get(metric);
      if (!sums) unlabelled.set(metric, (sums = { inc: 0, dec: 0 }));
      sums[method] += typeof first === 'number' ? first : 1;
      return;
    }
    const value = typeof second === 'number' ? second : 1;
    const key = `${metric}\u0000${method}\u0000${JSON.stringify(first)}`;
    const sum = labelled.get(key);
    if (sum) sum.value += value;
    else labelled.set(key, { metric, method, labels: first, value });
  };
  const relays = new Map<string, Record<string, (...args: unknown[]) => void>>();
  return new Proxy({} as Metrics & { flush(): void }, {
    get(_target, name) {
      if (name === 'flush') return flush;
      if (typeof name !== 'string') return undefined;
      let relay = relays.get(name);
      if (!relay) {
        relay = {
          inc: (first?: unknown, second?: unknown) => step(name, 'inc', first, second),
          dec: (first?: unknown, second?: unknown) => step(name, 'dec', first, second),
          set: (...args: unknown[]) => void others.push({ metric: name, method: 'set', args }),
          observe: (...args: unknown[]) => void others.push({ metric: name, method: 'observe', args }),
        };
        relays.set(name, relay);
      }
      return relay;
    },
  });
}
