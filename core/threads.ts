import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/**
 * What the worker threads of one Sluice process share: starting a thread module, relaying its log lines
 * and its metric updates to the main thread, where the one logger and the one /metrics registry live.
 */

/**
 * Starts `./{name}.js` next to `callerUrl` as a worker thread. From the TypeScript sources (tests run them)
 * the module is loaded through tsx, like its parent.
 */
export function startThreadModule(callerUrl: string, name: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  // The ESM build of tsx's API (require.resolve finds its CommonJS twin, which fails to load it inside a worker).
  const tsx = pathToFileURL(createRequire(callerUrl).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const source = new URL(`./${name}.ts`, callerUrl).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ tsImport }) => tsImport(${JSON.stringify(source)}, ${JSON.stringify(source)}))`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** A pino logger inside a thread whose JSON lines go to `post`, for `relayLogLine` on the main thread. */
export function threadLogger(level: string, thread: string, post: (line: string) => void): Logger {
  return pino({ level, base: { thread } }, { write: post });
}

const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** Logs a thread's JSON line again through the main thread's logger, its fields and level kept. */
export function relayLogLine(log: Logger, line: string): void {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.warn({ line }, 'unreadable log line from a worker thread');
    return;
  }
  const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = entry;
  log[PINO_LEVELS[level as number] ?? 'info'](fields, typeof msg === 'string' ? msg : '');
}

const METRIC_METHODS = ['inc', 'dec', 'set', 'observe'] as const;
export interface MetricUpdate {
  metric: string;
  method: (typeof METRIC_METHODS)[number];
  args: unknown[];
}

/**
 * Metrics for code running in a thread: every inc/dec/set/observe is posted to the main thread and applied
 * there (`applyMetricUpdate`). Meant for updates counted per batch, not per message.
 */
export function relayedMetrics(post: (update: MetricUpdate) => void): Metrics {
  const relays = new Map<string, Record<string, (...args: unknown[]) => void>>();
  return new Proxy({} as Metrics, {
    get(_target, metric) {
      if (typeof metric !== 'string') return undefined;
      let relay = relays.get(metric);
      if (!relay) {
        relay = Object.fromEntries(METRIC_METHODS.map((method) => [method, (...args: unknown[]) => post({ metric, method, args })]));
        relays.set(metric, relay);
      }
      return relay;
    },
  });
}

export function applyMetricUpdate(metrics: Metrics, update: MetricUpdate): void {
  if (!METRIC_METHODS.includes(update.method)) return;
  const target = (metrics as unknown as Record<string, Partial<Record<MetricUpdate['method'], (...args: unknown[]) => void>> | undefined>)[update.metric];
  target?.[update.method]?.(...update.args);
}

/**
 * Like `relayedMetrics`, for code that counts per message: updates are held and posted together every
 * `intervalMs`, counter steps on the same metric and labels summed into one.
 */
export function bufferedRelayedMetrics(post: (updates: MetricUpdate[]) => void, intervalMs: number): Metrics & { flush(): void } {
  const sums = new Map<string, { metric: string; method: 'inc' | 'dec'; labels?: object; value: number }>();
  let others: MetricUpdate[] = [];
  const flush = (): void => {
    if (sums.size === 0 && others.length === 0) return;
    const updates = others;
    for (const { metric, method, labels, value } of sums.values()) updates.push({ metric, method, args: labels ? [labels, value] : [value] });
    sums.clear();
    others = [];
    post(updates);
  };
  setInterval(flush, intervalMs).unref();
  const metrics = relayedMetrics((update) => {
    if (update.method !== 'inc' && update.method !== 'dec') {
      others.push(update);
      return;
    }
    const [first, second] = update.args;
    const labels = typeof first === 'object' && first !== null ? first : undefined;
    const value = typeof first === 'number' ? first : typeof second === 'number' ? second : 1;
    const key = `${update.metric}\u0000${update.method}\u0000${labels ? JSON.stringify(labels) : ''}`;
    const sum = sums.get(key);
    if (sum) sum.value += value;
    else sums.set(key, { metric: update.metric, method: update.method, ...(labels ? { labels } : {}), value });
  });
  return new Proxy(metrics, { get: (target, name, receiver) => (name === 'flush' ? flush : Reflect.get(target, name, receiver)) }) as Metrics & { flush(): void };
}
