import { isDeepStrictEqual } from 'node:util';
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from '../core/logger.js';
import type { ReadingStore, StreamBus, WriterStatus } from '../core/seams.js';
import { threadLogger } from '../core/log-relay.js';
import { startFailed } from '../core/threads.js';
import { bufferedRelayedMetrics } from '../core/metric-relay.js';
import { createWriter } from './writer.js';
import type { FromWriterThread, ToWriterThread, WriterThreadInput } from './writer-protocol.js';

/**
 * The store writer on its own thread: decoding Kafka batches, building line protocol and holding batches
 * through store writes stay out of the main thread's event loop and heap, where they delayed PUBACKs.
 * It is the ordinary writer (consumers/writer.ts) with its logs, metrics and status relayed. The thread's entry
 * point (cli/roles/writer-thread.ts) opens the bus and the store; this serves the main thread's messages on `port`.
 */
export function runWriterInThread(port: MessagePort, input: WriterThreadInput, open: (logger: Logger) => { bus: StreamBus; store: ReadingStore }): void {
  const post = (message: FromWriterThread): void => port.postMessage(message);

  const logger = threadLogger(input.logLevel, 'writer', (line) => post({ type: 'log', line }));
  const metrics = bufferedRelayedMetrics((updates) => post({ type: 'metrics', updates }), 100);
  const { bus, store } = open(logger);
  const deadLettersReady = bus.createProducer();
  // Reported through 'start-failed' when start() awaits it; this only keeps an early failure from crashing the thread.
  deadLettersReady.catch(() => undefined);
  let writer: ReturnType<typeof createWriter> | undefined;

  // Status changes are rare (an outage starts or ends); a cheap poll keeps the main thread's copy fresh.
  let lastStatus: WriterStatus | undefined;
  const statusTimer = setInterval(() => {
    const status = writer?.status();
    if (status && !isDeepStrictEqual(status, lastStatus)) {
      lastStatus = status;
      post({ type: 'status', status });
    }
  }, 100);

  async function start(): Promise<void> {
    const deadLetters = await deadLettersReady;
    writer = createWriter(input.writer, { bus, store, deadLetters, logger, metrics });
    await writer.start();
  }

  async function close(): Promise<void> {
    clearInterval(statusTimer);
    try {
      await writer?.close();
      const status = writer?.status();
      if (status) post({ type: 'status', status });
      await store.close();
      await bus.close();
    } catch (error) {
      logger.warn({ err: error }, 'error while closing the writer thread');
    }
    metrics.flush();
    post({ type: 'closed' });
    port.close();
  }

  port.on('message', (message: ToWriterThread) => {
    if (message.type === 'start') {
      start().then(
        () => post({ type: 'ready' }),
        (error: unknown) => post(startFailed(error)),
      );
    } else {
      void close();
    }
  });
}
