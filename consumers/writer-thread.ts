import type { Worker } from 'node:worker_threads';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { applyMetricUpdate, relayLogLine, startThreadModule } from '../core/threads.js';
import { sluiceError, ErrorCodes } from '../core/errors.js';
import type { Writer, WriterStatus } from './writer.js';
import type { FromWriterThread, ToWriterThread, WriterThreadInput } from './writer-protocol.js';

export interface WriterThreadOptions {
  /** Wait before a thread that died is started again (its group resumes from the committed offsets). */
  restartDelayMs?: number;
  closeTimeoutMs?: number;
}

/**
 * The store writer on a worker thread, behind the same Writer interface as the in-process one. A thread that
 * dies is logged and started again: its consumer group re-reads from the last committed offsets, so nothing
 * that was not stored is skipped.
 */
export function createWriterThread(input: WriterThreadInput, deps: { logger: Logger; metrics: Metrics }, options: WriterThreadOptions = {}): Writer {
  const log = deps.logger.child({ module: 'writer-thread' });
  const restartDelayMs = options.restartDelayMs ?? 1000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 30_000;
  let status: WriterStatus = { state: 'starting' };
  let worker: Worker | undefined;
  let closing = false;
  let restartTimer: NodeJS.Timeout | undefined;
  /** Only a writer that ran once is restarted; a failed first start fails start-up instead. */
  let ranOnce = false;

  function spawn(): Promise<void> {
    const created = startThreadModule(import.meta.url, 'writer-worker', input);
    worker = created;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      created.on('message', (message: FromWriterThread) => {
        switch (message.type) {
          case 'started':
            settled = true;
            ranOnce = true;
            resolve();
            break;
          case 'start-failed':
            settled = true;
            reject(sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `store writer did not start: ${message.message}`, { retriable: true }));
            void created.terminate();
            break;
          case 'status':
            status = message.status;
            break;
          case 'metric':
            applyMetricUpdate(deps.metrics, message.update);
            break;
          case 'log':
            relayLogLine(log, message.line);
            break;
          case 'closed':
            break;
        }
      });
      created.on('error', (error) => log.error({ err: error }, 'store writer thread failed'));
      created.on('exit', (code) => {
        if (worker === created) worker = undefined;
        if (!settled) {
          settled = true;
          reject(sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `store writer thread exited with code ${code} while starting`, { retriable: true }));
        }
        // A restart that fails to start ends here too, and is tried again.
        if (closing || !ranOnce) return;
        status = { state: 'retrying', lastError: `writer thread exited with code ${code}`, failingSince: Date.now() };
        log.error({ exitCode: code, restartInMs: restartDelayMs }, 'store writer thread exited; starting it again (it resumes from the committed offsets)');
        restartTimer = setTimeout(() => {
          if (closing) return;
          spawn().catch((error: unknown) => log.error({ err: (error as Error).message }, 'store writer thread did not start again; retrying'));
        }, restartDelayMs);
      });
      created.postMessage({ type: 'start' } satisfies ToWriterThread);
    });
  }

  return {
    start: () => spawn(),
    status: () => ({ ...status }),
    async close() {
      closing = true;
      clearTimeout(restartTimer);
      const current = worker;
      if (!current) {
        status = { state: 'stopped' };
        return;
      }
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
      current.postMessage({ type: 'close' } satisfies ToWriterThread);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), closeTimeoutMs)));
      if ((await Promise.race([exited.then(() => 'exited' as const), timedOut])) === 'timeout') {
        log.warn({ timeoutMs: closeTimeoutMs }, 'store writer thread did not close in time; stopping it (its last batches will be read again)');
        await current.terminate();
      }
      clearTimeout(timer);
      status = { state: 'stopped' };
    },
  };
}
