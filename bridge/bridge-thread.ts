import type { Worker } from 'node:worker_threads';
import { MAX_READINGS_PER_MESSAGE, processClock } from '../core/precise-clock.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeviceEvent, PayloadFormat } from '../core/reading.js';
import { deserializeError, sluiceError, ErrorCodes } from '../core/errors.js';
import { superviseThread } from '../core/threads.js';
import type { Bridge } from './bridge.js';
import type { IngestInput, IngestOutcome } from '../core/seams.js';
import type { BridgeThreadInput, FromBridgeThread, IngestColumns, ToBridgeThread } from './bridge-protocol.js';

type BridgeThreadMessage = Extract<FromBridgeThread, { type: 'settled' }>;

export interface BridgeThreadDeps {
  logger: Logger;
  metrics: Metrics;
  /** Starts the thread with the input (cli/roles/ingest-thread.ts opens its producers and runs runBridgeInThread); again after it died. */
  spawn: () => Worker;
}

export interface BridgeThreadOptions {
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
export async function createBridgeThread(input: BridgeThreadInput, deps: BridgeThreadDeps, options: BridgeThreadOptions = {}): Promise<Bridge> {
  const log = deps.logger.child({ module: 'bridge-thread' });
  const waiting = new Map<number, Waiting>();
  let nextId = 0;
  let closing = false;

  let outbox = emptyOutbox();
  let outboxScheduled = false;

  function failAll(ids: Iterable<number>, error: Error): void {
    for (const id of ids) {
      waiting.get(id)?.reject(error);
      waiting.delete(id);
    }
  }

  const thread = superviseThread<BridgeThreadMessage>({
    name: 'bridge',
    failureCode: ErrorCodes.KAFKA_UNAVAILABLE,
    spawn: deps.spawn,
    log,
    metrics: deps.metrics,
    onMessage(message) {
      for (let i = 0; i < message.ids.length; i++) {
        const id = message.ids[i]!;
        waiting.get(id)?.resolve(message.outcomes[i]!);
        waiting.delete(id);
      }
      for (const { id, error } of message.failed) {
        // With the thread's stack and cause, so a log line of the failure says where in the thread it came from.
        waiting.get(id)?.reject(deserializeError(error, ErrorCodes.KAFKA_UNAVAILABLE));
        waiting.delete(id);
      }
    },
    // Publishes the thread held fail as retriable: the gateway closes those connections and the devices resend.
    onExit: (code) => failAll([...waiting.keys()], sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, `bridge thread stopped (exit code ${code})`, { retriable: true })),
    closeMessage: { type: 'close' } satisfies ToBridgeThread,
    restartDelayMs: options.restartDelayMs ?? 1000,
    closeTimeoutMs: options.closeTimeoutMs ?? 30_000,
  });

  function flushOutbox(): void {
    outboxScheduled = false;
    const batch = outbox;
    outbox = emptyOutbox();
    if (batch.ids.length === 0) return;
    const worker = thread.current();
    if (!worker) {
      failAll(batch.ids, sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, 'bridge thread is restarting', { retriable: true }));
      return;
    }
    const columns = toIngestColumns(batch);
    worker.postMessage({ type: 'ingest', batch: columns } satisfies ToBridgeThread, [columns.payloads.buffer as ArrayBuffer]);
  }

  await thread.start();
  log.info({ producers: input.producers }, 'bridge running on its own thread');

  return {
    ingest(publish: IngestInput) {
      if (closing) return Promise.reject(sluiceError(ErrorCodes.CLOSED, 'bridge is closed'));
      const id = nextId++;
      outbox.ids.push(id);
      outbox.deviceIds.push(publish.deviceId);
      outbox.topics.push(publish.topic);
      outbox.receivedAts.push(publish.receivedAt);
      // Stamped on this side when the caller did not, so the thread's stamps come from the one process clock.
      outbox.receivedAtNss.push(publish.receivedAtNs ?? processClock.next(MAX_READINGS_PER_MESSAGE));
      outbox.formats.push(publish.format ?? null);
      outbox.payloads.push(publish.payload);
      outbox.payloadBytes += publish.payload.length;
      if (!outboxScheduled) {
        outboxScheduled = true;
        setImmediate(flushOutbox);
      }
      return new Promise<IngestOutcome>((resolve, reject) => waiting.set(id, { resolve, reject }));
    },

    async publishEvent(event: DeviceEvent) {
      if (closing) throw sluiceError(ErrorCodes.CLOSED, 'bridge is closed');
      const current = thread.current();
      if (!current) throw sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, 'bridge thread is restarting', { retriable: true });
      const id = nextId++;
      const settled = new Promise<IngestOutcome>((resolve, reject) => waiting.set(id, { resolve, reject }));
      current.postMessage({ type: 'event', id, event } satisfies ToBridgeThread);
      await settled;
    },

    // Publishes handed over and not yet settled: each carries at least one reading, so the cap holds for readings too.
    saturated: () => waiting.size >= input.bridge.maxInflightRecords,

    async close() {
      if (closing) return;
      flushOutbox();
      closing = true;
      await thread.close();
      failAll([...waiting.keys()], sluiceError(ErrorCodes.CLOSED, 'bridge closed before the queue acknowledged'));
    },
  };
}

interface Outbox {
  ids: number[];
  deviceIds: string[];
  topics: string[];
  receivedAts: number[];
  receivedAtNss: bigint[];
  formats: (PayloadFormat | null)[];
  payloads: Buffer[];
  payloadBytes: number;
}

function emptyOutbox(): Outbox {
  return { ids: [], deviceIds: [], topics: [], receivedAts: [], receivedAtNss: [], formats: [], payloads: [], payloadBytes: 0 };
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
    receivedAtNss: BigInt64Array.from(outbox.receivedAtNss),
    formats: outbox.formats,
    payloads,
    payloadEnds,
  };
}
