/**
 * The fuzz runner in a worker thread: generating megabytes of packets is CPU work, and on the main thread it
 * would delay the good device's publishes and PUBACK timestamps, measuring the harness instead of the gateway.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runFuzz, type FuzzFigures, type FuzzRunOptions } from './runner.js';

export type RunnerThreadMessage = { type: 'progress' | 'done'; figures: FuzzFigures };

const stop = new AbortController();
parentPort!.on('message', (message: { type: string }) => {
  if (message.type === 'stop') stop.abort();
});
const post = (message: RunnerThreadMessage): void => parentPort!.postMessage(message);
const figures = await runFuzz({
  ...(workerData as Omit<FuzzRunOptions, 'signal' | 'onProgress'>),
  signal: stop.signal,
  onProgress: (progress) => post({ type: 'progress', figures: progress }),
});
post({ type: 'done', figures });
