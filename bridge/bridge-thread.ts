import { Worker } from 'node:worker_threads';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeviceEvent } from '../core/reading.js';
import { sluiceError, ErrorCodes } from '../core/errors.js';
import { applyMetricUpdate, relayLogLine, startThreadModule } from '../core/threads.js';
import type { Bridge, IngestInput, IngestOutcome } from './bridge.js';
import type { PayloadFormat } from './normalize/index.js';
import type { BridgeThreadInput, FromBridgeThread, IngestColumns, SerializedError, ToBridgeThread } from './bridge-protocol.js';

export interface BridgeThreadOptions {
  /** Tests swap in a stand-in thread; the default is bridge-worker next to this file. */
  workerUrl?: URL;
  /** Wait before a thread that died is started again. */
  restartDelayMs?: number;
  closeTimeoutMs?: number;
}

interface Waiting {
  resolve: (outcome: IngestOutcome) => void;
  reject: (error: Error) => void;
}

/**
 * The bridge on a worker thread, behind the same Bridge interface. Under load the main thread was the
 * gateway's bottleneck; normalizing, serializing and Kafka producing were half of its work, and here they
 * run on the other core. Publishes of one event-loop turn cross in one message, and their outcomes come
 * back the same way.
 *
 * A thread that dies fails the publishes it held as retriable: the gateway then closes those connections,
 * the devices send again, and nothing unacknowledged is lost. It is started again after `restartDelayMs`;
 * meanwhile publishes fail at once the same way.
 */
export async function createBridgeThread(input: BridgeThreadInput, deps: { logger: Logger; metrics: Metrics }, options: BridgeThreadOptions = {}): Promise<Bridge> {
  const log = deps.logger.child({ module: 'bridge-thread' });
  const restartDelayMs = options.restartDelayMs ?? 1000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 30_000;
  const waiting = new Map<number, Waiting>();
  let nextId = 0;
  let worker: Worker | undefined;
  let closing = false;
  let restartTimer: NodeJS.Timeout | undefined;
  /** Only a bridge that ran once is restarted; a failed first start fails start-up instead. */
  let everReady = false;

  let outbox = emptyOutbox();
  let outboxScheduled = false;

  function failAll(ids: Iterable<number>, error: Error): void {
    for (const id of ids) {
      waiting.get(id)?.reject(error);
      waiting.delete(id);
    }
  }

  function rebuild(error: SerializedError): Error {
    return sluiceError(error.code ?? ErrorCodes.KAFKA_UNAVAILABLE, error.message, { retriable: error.retriable });
  }

  function flushOutbox(): void {
    outboxScheduled = false;
    const batch = outbox;
    outbox = emptyOutbox();
    if (batch.ids.length === 0) return;
    if (!worker) {
      failAll(batch.ids, sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, 'bridge thread is restarting', { retriable: true }));
      return;
    }
    const columns = toIngestColumns(batch);
    worker.postMessage({ type: 'ingest', batch: columns } satisfies ToBridgeThread, [columns.payloads.buffer as ArrayBuffer]);
  }

  function spawn(): Promise<void> {
    const created = options.workerUrl ? new Worker(options.workerUrl, { workerData: input }) : startThreadModule(import.meta.url, 'bridge-worker', input);
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      created.on('message', (message: FromBridgeThread) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            worker = created;
            resolve();
            break;
          case 'start-failed':
            reject(sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `bridge did not start: ${message.message}`, { retriable: true }));
            void created.terminate();
            break;
          case 'settled':
            for (let i = 0; i < message.ids.length; i++) {
              const id = message.ids[i]!;
              waiting.get(id)?.resolve(message.outcomes[i]!);
              waiting.delete(id);
            }
            for (const { id, error } of message.failed) {
              waiting.get(id)?.reject(rebuild(error));
              waiting.delete(id);
            }
            break;
          case 'metrics':
            for (const update of message.updates) applyMetricUpdate(deps.metrics, update);
            break;
          case 'log':
            relayLogLine(log, message.line);
            break;
          case 'closed':
            break;
        }
      });
      created.on('error', (error) => log.error({ err: error }, 'bridge thread failed'));
      created.on('exit', (code) => {
        if (worker === created) worker = undefined;
        if (!ready) {
          reject(sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `bridge thread exited with code ${code} while starting`, { retriable: true }));
        }
        failAll([...waiting.keys()], sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `bridge thread stopped (exit code ${code})`, { retriable: true }));
        if (closing || !everReady) return;
        log.error({ exitCode: code, restartInMs: restartDelayMs }, 'bridge thread exited; publishes it held fail (devices send them again); starting it again');
        restartTimer = setTimeout(() => {
          if (!closing) spawn().catch((error: unknown) => log.error({ err: (error as Error).message }, 'bridge thread did not start again; retrying'));
        }, restartDelayMs);
      });
    }).then(() => {
      everReady = true;
    });
  }

  await spawn();
  log.info({ producers: input.producers }, 'bridge running on its own thread');

  function submit(id: number, send: () => void): Promise<IngestOutcome> {
    return new Promise<IngestOutcome>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      send();
    });
  }

  return {
    ingest(publish: IngestInput) {
      if (closing) return Promise.reject(sluiceError(ErrorCodes.CLOSED, 'bridge is closed'));
      const id = nextId++;
      return submit(id, () => {
        outbox.ids.push(id);
        outbox.deviceIds.push(publish.deviceId);
        outbox.topics.push(publish.topic);
        outbox.receivedAts.push(publish.receivedAt);
        outbox.formats.push(publish.format ?? null);
        outbox.payloads.push(publish.payload);
        outbox.payloadBytes += publish.payload.length;
        if (!outboxScheduled) {
          outboxScheduled = true;
          setImmediate(flushOutbox);
        }
      });
    },

    async publishEvent(event: DeviceEvent) {
      if (closing) throw sluiceError(ErrorCodes.CLOSED, 'bridge is closed');
      const current = worker;
      if (!current) throw sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, 'bridge thread is restarting', { retriable: true });
      const id = nextId++;
      await submit(id, () => current.postMessage({ type: 'event', id, event } satisfies ToBridgeThread));
    },

    // Publishes handed over and not yet settled: each carries at least one reading, so the cap holds for readings too.
    saturated: () => waiting.size >= input.bridge.maxInflightRecords,

    async close() {
      if (closing) return;
      flushOutbox();
      closing = true;
      clearTimeout(restartTimer);
      const current = worker;
      if (current) {
        const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
        current.postMessage({ type: 'close' } satisfies ToBridgeThread);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), closeTimeoutMs)));
        if ((await Promise.race([exited.then(() => 'exited' as const), timedOut])) === 'timeout') {
          log.warn({ timeoutMs: closeTimeoutMs }, 'bridge thread did not close in time; stopping it');
          await current.terminate();
        }
        clearTimeout(timer);
      }
      failAll([...waiting.keys()], sluiceError(ErrorCodes.CLOSED, 'bridge closed before the queue acknowledged'));
    },
  };
}

interface Outbox {
  ids: number[];
  deviceIds: string[];
  topics: string[];
  receivedAts: number[];
  formats: (PayloadFormat | null)[];
  payloads: Buffer[];
  payloadBytes: number;
}

function emptyOutbox(): Outbox {
  return { ids: [], deviceIds: [], topics: [], receivedAts: [], formats: [], payloads: [], payloadBytes: 0 };
}

export function toIngestColumns(outbox: Outbox): IngestColumns {
  // A buffer of its own (not a pool slice), so it can be transferred instead of copied.
  const payloads = new Uint8Array(new ArrayBuffer(outbox.payloadBytes));
  const payloadEnds = new Uint32Array(outbox.payloads.length);
  let offset = 0;
  for (let i = 0; i < outbox.payloads.length; i++) {
    const payload = outbox.payloads[i]!;
    payloads.set(payload, offset);
    offset += payload.length;
    payloadEnds[i] = offset;
  }
  return {
    ids: outbox.ids,
    deviceIds: outbox.deviceIds,
    topics: outbox.topics,
    receivedAts: Float64Array.from(outbox.receivedAts),
    formats: outbox.formats,
    payloads,
    payloadEnds,
  };
}
