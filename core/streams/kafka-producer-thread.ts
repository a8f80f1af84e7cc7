import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import { sluiceError, ErrorCodes } from '../errors.js';
import { relayLogLine, startThreadModule } from '../threads.js';
import type { OutgoingRecord, StreamName, StreamProducer } from '../seams.js';
import type { FromProducerThread, ProducerThreadInput, RecordColumns, ToProducerThread } from './kafka-producer-protocol.js';

export interface ProducerThread {
  /** A producer whose sends run on the thread; resolves once it is connected to Kafka. */
  createProducer(): Promise<StreamProducer>;
  close(): Promise<void>;
}

type WithoutRequestId<T> = T extends unknown ? Omit<T, 'requestId'> : never;

const CLOSE_TIMEOUT_MS = 15_000;

/**
 * Kafka producing on a worker thread. Under load the main thread is the gateway's bottleneck (MQTT parsing,
 * normalizing, PUBACKs), and kafkajs' record encoding was a sixth of it; on its own thread it runs on the
 * other core. A thread that dies fails the sends in hand as retriable (the bridge retries them, nothing is
 * acknowledged early) and the next send starts a new thread.
 */
export function createProducerThread(
  input: ProducerThreadInput,
  logger: Logger,
  /** Tests swap in a stand-in thread; the default is kafka-producer-worker next to this file. */
  workerUrl?: URL,
): ProducerThread {
  const log = logger.child({ module: 'kafka-producer-thread' });
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let worker: Worker | undefined;
  let closing: Promise<void> | undefined;
  let nextRequestId = 0;
  let nextProducerId = 0;

  function failPending(reason: string): void {
    const error = sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `kafka producer thread stopped: ${reason}`, { retriable: true });
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  }

  function started(): Worker {
    if (worker) return worker;
    const created = workerUrl ? new Worker(workerUrl, { workerData: input }) : startThreadModule(import.meta.url, 'kafka-producer-worker', input);
    created.on('message', (message: FromProducerThread) => {
      switch (message.type) {
        case 'done':
          pending.get(message.requestId)?.resolve();
          pending.delete(message.requestId);
          break;
        case 'failed': {
          const { code, message: text, retriable } = message.error;
          pending.get(message.requestId)?.reject(sluiceError(code, text, { retriable }));
          pending.delete(message.requestId);
          break;
        }
        case 'log':
          relayLogLine(log, message.line);
          break;
        case 'closed':
          break;
      }
    });
    created.on('error', (error) => log.error({ err: error }, 'kafka producer thread failed'));
    created.on('exit', (code) => {
      if (worker === created) worker = undefined;
      if (!closing) log.error({ exitCode: code }, 'kafka producer thread exited; the next send starts a new one');
      failPending(`exit code ${code}`);
    });
    worker = created;
    return created;
  }

  function request(message: WithoutRequestId<Extract<ToProducerThread, { requestId: number }>>): Promise<void> {
    if (closing) return Promise.reject(sluiceError(ErrorCodes.CLOSED, 'kafka producer thread is closed'));
    const requestId = nextRequestId++;
    return new Promise<void>((resolve, reject) => {
      pending.set(requestId, { resolve, reject });
      started().postMessage({ ...message, requestId } as ToProducerThread);
    });
  }

  return {
    async createProducer() {
      const producerId = nextProducerId++;
      await request({ type: 'connect', producerId });
      const sendBatch = (batches: { stream: StreamName; records: OutgoingRecord[] }[]): Promise<void> =>
        request({ type: 'send', producerId, batches: batches.filter((b) => b.records.length > 0).map((b) => toColumns(b.stream, b.records)) });
      return {
        send: (stream, records) => sendBatch([{ stream, records }]),
        sendBatch,
        close: () => (worker && !closing ? request({ type: 'disconnect', producerId }) : Promise.resolve()),
      };
    },

    close() {
      closing ??= (async () => {
        const current = worker;
        if (!current) return;
        const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
        current.postMessage({ type: 'close' } satisfies ToProducerThread);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS)));
        if ((await Promise.race([exited.then(() => 'exited' as const), timedOut])) === 'timeout') {
          log.warn({ timeoutMs: CLOSE_TIMEOUT_MS }, 'kafka producer thread did not close in time; stopping it');
          await current.terminate();
        }
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}

export function toColumns(stream: StreamName, records: readonly OutgoingRecord[]): RecordColumns {
  const keys = new Array<string>(records.length);
  const values = new Array<string>(records.length);
  const timestamps = new Float64Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    keys[i] = record.key;
    values[i] = record.value;
    timestamps[i] = record.timestamp ?? Number.NaN;
  }
  return { stream, keys, values, timestamps };
}
