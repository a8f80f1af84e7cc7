import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { Worker } from 'node:worker_threads';
import { superviseThread } from '../core/threads.js';
import { ErrorCodes } from '../core/errors.js';
import type { Writer, WriterStatus } from '../core/seams.js';
import type { FromWriterThread, ToWriterThread } from './writer-protocol.js';

export interface WriterThreadDeps {
  logger: Logger;
  metrics: Metrics;
  /** Starts the thread (cli/roles/writer-thread.ts opens the bus and the store and runs runWriterInThread); again after it died. */
  spawn: () => Worker;
}

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
export function createWriterThread(deps: WriterThreadDeps, options: WriterThreadOptions = {}): Writer {
  let status: WriterStatus = { state: 'starting' };
  const thread = superviseThread<Extract<FromWriterThread, { type: 'status' }>>({
    name: 'store writer',
    failureCode: ErrorCodes.WRITER_UNAVAILABLE,
    spawn: deps.spawn,
    log: deps.logger.child({ module: 'writer-thread' }),
    metrics: deps.metrics,
    onMessage: (message) => void (status = message.status),
    onExit: (code) => {
      if (status.state !== 'stopped') status = { state: 'retrying', lastError: `writer thread exited with code ${code}`, failingSince: Date.now() };
    },
    startMessage: { type: 'start' } satisfies ToWriterThread,
    closeMessage: { type: 'close' } satisfies ToWriterThread,
    restartDelayMs: options.restartDelayMs ?? 1000,
    closeTimeoutMs: options.closeTimeoutMs ?? 30_000,
  });

  return {
    start: () => thread.start(),
    status: () => ({ ...status }),
    async close() {
      await thread.close();
      status = { state: 'stopped' };
    },
  };
}
