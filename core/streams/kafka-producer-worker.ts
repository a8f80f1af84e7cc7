import { parentPort, workerData } from 'node:worker_threads';
import { isSluiceError } from '../errors.js';
import { threadLogger } from '../threads.js';
import type { OutgoingRecord, StreamProducer } from '../seams.js';
import { createKafkaBus } from './kafka.js';
import type { FromProducerThread, ProducerThreadInput, RecordColumns, SerializedError, ToProducerThread } from './kafka-producer-protocol.js';

/**
 * The Kafka producer thread: kafkajs' record encoding, CRCs, compression and socket writes run here, off
 * the thread that parses MQTT and sends PUBACKs. The producers are the ordinary ones of createKafkaBus,
 * so idempotence, partitioning and error classification are the same code either way.
 */
const port = parentPort!;
const input = workerData as ProducerThreadInput;
const post = (message: FromProducerThread): void => port.postMessage(message);

const logger = threadLogger(input.logLevel, 'kafka-producer', (line) => post({ type: 'log', line }));
const bus = createKafkaBus({ ...input, logger });
const producers = new Map<number, Promise<StreamProducer>>();

function producer(id: number): Promise<StreamProducer> {
  let created = producers.get(id);
  if (!created) {
    created = bus.createProducer();
    producers.set(id, created);
    // A failed connect is reported to its caller; the next request for this id tries again.
    created.catch(() => producers.delete(id));
  }
  return created;
}

function toRecords(columns: RecordColumns): OutgoingRecord[] {
  const records = new Array<OutgoingRecord>(columns.keys.length);
  for (let i = 0; i < records.length; i++) {
    const timestamp = columns.timestamps[i]!;
    records[i] = Number.isNaN(timestamp) ? { key: columns.keys[i]!, value: columns.values[i]! } : { key: columns.keys[i]!, value: columns.values[i]!, timestamp };
  }
  return records;
}

function serialize(error: unknown): SerializedError {
  if (isSluiceError(error)) return { code: error.code, message: error.message, retriable: error.retriable };
  return { code: 'KAFKA_UNAVAILABLE', message: error instanceof Error ? error.message : String(error), retriable: true };
}

async function answer(requestId: number, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    post({ type: 'done', requestId });
  } catch (error) {
    post({ type: 'failed', requestId, error: serialize(error) });
  }
}

port.on('message', (message: ToProducerThread) => {
  switch (message.type) {
    case 'connect':
      void answer(message.requestId, async () => void (await producer(message.producerId)));
      break;
    case 'send':
      void answer(message.requestId, async () =>
        (await producer(message.producerId)).sendBatch(message.batches.map((columns) => ({ stream: columns.stream, records: toRecords(columns) }))),
      );
      break;
    case 'disconnect':
      void answer(message.requestId, async () => {
        const created = producers.get(message.producerId);
        producers.delete(message.producerId);
        if (created) await (await created).close();
      });
      break;
    case 'close':
      void bus
        .close()
        .catch((error: unknown) => logger.warn({ err: error }, 'error while closing the producer thread'))
        .finally(() => {
          post({ type: 'closed' });
          port.close();
        });
      break;
  }
});
