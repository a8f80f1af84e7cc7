import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { sluiceError, ErrorCodes } from './errors.js';

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

/** What every Sluice thread says besides its own messages. */
export type CommonThreadMessage =
  | { type: 'ready' }
  | { type: 'start-failed'; message: string }
  | { type: 'metrics'; updates: MetricUpdate[] }
  /** One pino JSON line, logged again by the main thread's logger. */
  | { type: 'log'; line: string }
  | { type: 'closed' };

export interface SupervisedThreadOptions<Message extends { type: string }> {
  /** For log lines: "bridge", "store writer". */
  name: string;
  spawn: () => Worker;
  log: Logger;
  metrics: Metrics;
  /** The thread's own messages (everything but the common ones). */
  onMessage: (message: Message) => void;
  /** After the thread is gone, expectedly or not: fail what it held. */
  onExit?: (exitCode: number) => void;
  /** Posted as soon as the thread is spawned (and respawned), for threads that wait for it before starting. */
  startMessage?: unknown;
  closeMessage: unknown;
  restartDelayMs: number;
  closeTimeoutMs: number;
}

export interface SupervisedThread {
  /** Resolves when the thread is ready; a failed first start rejects (and is not retried). */
  start(): Promise<void>;
  /** The running thread, or undefined while it is restarting or after close. */
  current(): Worker | undefined;
  close(): Promise<void>;
}

/**
 * Runs one worker thread for the main thread: relays its logs and metrics, starts it again after
 * `restartDelayMs` when it dies (once it has run; a failed first start fails start-up instead), and stops it on
 * close, forcibly after `closeTimeoutMs`.
 */
export function superviseThread<Message extends { type: string }>(options: SupervisedThreadOptions<Message>): SupervisedThread {
  const { log, name } = options;
  let worker: Worker | undefined;
  let closing = false;
  let ranOnce = false;
  let restartTimer: NodeJS.Timeout | undefined;

  function spawn(): Promise<void> {
    const created = options.spawn();
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      created.on('message', (message: CommonThreadMessage | Message) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            ranOnce = true;
            worker = created;
            resolve();
            break;
          case 'start-failed':
            reject(sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `${name} did not start: ${(message as { message: string }).message}`, { retriable: true }));
            void created.terminate();
            break;
          case 'metrics':
            for (const update of (message as { updates: MetricUpdate[] }).updates) applyMetricUpdate(options.metrics, update);
            break;
          case 'log':
            relayLogLine(log, (message as { line: string }).line);
            break;
          case 'closed':
            break;
          default:
            options.onMessage(message as Message);
        }
      });
      created.on('error', (error) => log.error({ err: error }, `${name} thread failed`));
      created.on('exit', (code) => {
        if (worker === created) worker = undefined;
        if (!ready) reject(sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `${name} thread exited with code ${code} while starting`, { retriable: true }));
        options.onExit?.(code);
        // A restart that fails to start ends here too, and is tried again.
        if (closing || !ranOnce) return;
        log.error({ exitCode: code, restartInMs: options.restartDelayMs }, `${name} thread exited; starting it again`);
        restartTimer = setTimeout(() => {
          if (!closing) spawn().catch((error: unknown) => log.error({ err: (error as Error).message }, `${name} thread did not start again; retrying`));
        }, options.restartDelayMs);
      });
      if (options.startMessage !== undefined) created.postMessage(options.startMessage);
    });
  }

  return {
    start: spawn,
    current: () => worker,
    async close() {
      if (closing) return;
      closing = true;
      clearTimeout(restartTimer);
      const current = worker;
      if (!current) return;
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
      current.postMessage(options.closeMessage);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), options.closeTimeoutMs)));
      if ((await Promise.race([exited.then(() => 'exited' as const), timedOut])) === 'timeout') {
        log.warn({ timeoutMs: options.closeTimeoutMs }, `${name} thread did not close in time; stopping it`);
        await current.terminate();
      }
      clearTimeout(timer);
    },
  };
}
