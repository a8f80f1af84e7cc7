import type { MessagePort } from 'node:worker_threads';
import type { Logger } from '../core/logger.js';
import { ErrorCodes, serializeError, sluiceError } from '../core/errors.js';
import { threadLogger } from '../core/log-relay.js';
import { startFailed } from '../core/threads.js';
import { bufferedRelayedMetrics } from '../core/metric-relay.js';
import { createBridge, type Bridge } from './bridge.js';
import type { IngestOutcome, StreamProducer } from '../core/seams.js';
import type { BridgeThreadInput, FromBridgeThread, IngestColumns, SerializedError, ToBridgeThread } from './bridge-protocol.js';

/** The stream producers a bridge thread sends with, opened by whoever starts the thread (the ingest role). */
export interface ThreadProducers {
  producers: StreamProducer[];
  /** Closes the producers and what they were opened on. */
  close(): Promise<void>;
}

/**
 * The bridge on its own thread: normalizing, serializing, batching and producing run here, off the thread that
 * parses MQTT and sends PUBACKs. It is the ordinary bridge (bridge.ts) with ordinary producers; only the hand-over
 * of publishes and their outcomes is new. The thread's entry point (cli/roles/ingest-thread.ts) opens the
 * producers; this serves the main thread's messages on `port`.
 */
export function runBridgeInThread(port: MessagePort, input: BridgeThreadInput, openProducers: (logger: Logger) => Promise<ThreadProducers>): void {
  const post = (message: FromBridgeThread): void => port.postMessage(message);

  const logger = threadLogger(input.logLevel, 'bridge', (line) => post({ type: 'log', line }));
  const metrics = bufferedRelayedMetrics((updates) => post({ type: 'metrics', updates }), 100);
  let opened: ThreadProducers | undefined;
  let bridge: Bridge | undefined;

  const settled: { ids: number[]; outcomes: IngestOutcome[]; failed: { id: number; error: SerializedError }[] } = { ids: [], outcomes: [], failed: [] };
  let settledScheduled = false;
  function flushSettled(): void {
    settledScheduled = false;
    post({ type: 'settled', ...settled });
    settled.ids = [];
    settled.outcomes = [];
    settled.failed = [];
  }
  function scheduleSettled(): void {
    if (settledScheduled) return;
    settledScheduled = true;
    setImmediate(flushSettled);
  }
  const succeed = (id: number, outcome: IngestOutcome): void => {
    settled.ids.push(id);
    settled.outcomes.push(outcome);
    scheduleSettled();
  };
  const fail = (id: number, error: unknown): void => {
    // An error of the queue without a code of its own is retriable: the device sends again.
    settled.failed.push({ id, error: serializeError(error, { retriable: true }) });
    scheduleSettled();
  };

  function ingestAll(current: Bridge, batch: IngestColumns): void {
    const payloads = Buffer.from(batch.payloads.buffer, batch.payloads.byteOffset, batch.payloads.byteLength);
    let start = 0;
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i]!;
      const end = batch.payloadEnds[i]!;
      const format = batch.formats[i];
      current
        .ingest({
          deviceId: batch.deviceIds[i]!,
          topic: batch.topics[i]!,
          payload: payloads.subarray(start, end),
          receivedAt: batch.receivedAts[i]!,
          receivedAtNs: batch.receivedAtNss[i]!,
          ...(format ? { format } : {}),
        })
        .then(
          (outcome) => succeed(id, outcome),
          (error: unknown) => fail(id, error),
        );
      start = end;
    }
  }

  async function start(): Promise<void> {
    opened = await openProducers(logger);
    bridge = createBridge(input.bridge, { producers: opened.producers, logger, metrics });
    post({ type: 'ready' });
  }

  async function close(): Promise<void> {
    try {
      await bridge?.close();
      await opened?.close();
    } catch (error) {
      logger.warn({ err: error }, 'error while closing the bridge thread');
    }
    metrics.flush();
    if (settledScheduled) flushSettled();
    post({ type: 'closed' });
    port.close();
  }

  // The main thread hands publishes over only once the thread is ready; this is the same refusal as its own
  // while the thread restarts (bridge-thread.ts): the queue is not there yet, try again.
  const notReady = (): Error => sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, 'bridge thread not ready', { retriable: true });

  port.on('message', (message: ToBridgeThread) => {
    switch (message.type) {
      case 'ingest':
        if (bridge) ingestAll(bridge, message.batch);
        else for (const id of message.batch.ids) fail(id, notReady());
        break;
      case 'event':
        if (bridge) bridge.publishEvent(message.event).then(() => succeed(message.id, { readings: 0, rejected: 0 }), (error: unknown) => fail(message.id, error));
        else fail(message.id, notReady());
        break;
      case 'close':
        void close();
        break;
    }
  });

  start().catch((error: unknown) => post(startFailed(error)));
}
