/**
 * The fuzz runner's thread (started by runner-thread.ts): generating megabytes of packets is CPU work, and on the
 * main thread it would delay the good device's publishes and PUBACK timestamps, measuring the harness instead of
 * the gateway.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runFuzz } from './runner.js';
import type { FromRunnerThread, FuzzThreadInput, ToRunnerThread } from './runner-protocol.js';

const stop = new AbortController();
parentPort!.on('message', (message: ToRunnerThread) => {
  if (message.type === 'stop') stop.abort();
});
const post = (message: FromRunnerThread): void => parentPort!.postMessage(message);
const figures = await runFuzz({
  ...(workerData as FuzzThreadInput),
  signal: stop.signal,
  onProgress: (progress) => post({ type: 'progress', figures: progress }),
});
post({ type: 'done', figures });
