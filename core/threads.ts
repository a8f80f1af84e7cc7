import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { relayLogLine } from './log-relay.js';
import { applyMetricUpdate, type MetricUpdate } from './metric-relay.js';
import { isSluiceError, sluiceError, ErrorCodes, type ErrorCode } from './errors.js';

/**
 * Starting a worker thread module and supervising it: its log lines and metric updates are relayed to the main
 * thread (log-relay.ts, metric-relay.ts), where the one logger and the one /metrics registry live.
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

/** What every Sluice thread says besides its own messages. */
export type CommonThreadMessage =
  | { type: 'ready' }
  /** `code`: the failure's own error code when it has one (a SluiceError), else the supervisor's `failureCode`. */
  | { type: 'start-failed'; message: string; code?: ErrorCode }
  | { type: 'metrics'; updates: MetricUpdate[] }
  /** One pino JSON line, logged again by the main thread's logger. */
  | { type: 'log'; line: string }
  | { type: 'closed' };

/** What a thread posts when its start fails: the message, and the error's own code when it has a known one. */
export function startFailed(error: unknown): Extract<CommonThreadMessage, { type: 'start-failed' }> {
  const message = error instanceof Error ? error.message : String(error);
  const known = isSluiceError(error) && (Object.values(ErrorCodes) as string[]).includes(error.code);
  return { type: 'start-failed', message, ...(known ? { code: error.code as ErrorCode } : {}) };
}

export interface SupervisedThreadOptions<Message extends { type: string }> {
  /** For log lines: "bridge", "store writer". */
  name: string;
  /** The code of a failed start, unless the thread reports one: what the stage depends on (KAFKA_UNAVAILABLE for the bridge). */
  failureCode: ErrorCode;
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
            reject(sluiceError((message as { code?: ErrorCode }).code ?? options.failureCode, `${name} did not start: ${(message as { message: string }).message}`, { retriable: true }));
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
        if (!ready) reject(sluiceError(options.failureCode, `${name} thread exited with code ${code} while starting`, { retriable: true }));
        options.onExit?.(code);
        // A restart that fails to start ends here too, and is tried again.
        if (closing || !ranOnce) return;
        log.error({ exitCode: code, restartInMs: options.restartDelayMs }, `${name} thread exited; starting it again`);
        restartTimer = setTimeout(() => {
          if (!closing) spawn().catch((error: unknown) => log.error({ err: error }, `${name} thread did not start again; retrying`));
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
