import { startThreadModule } from '../../core/threads.js';
import type { Writer } from '../../core/seams.js';
import { createWriter } from '../../consumers/writer.js';
import { createWriterThread } from '../../consumers/writer-thread.js';
import type { WriterThreadInput } from '../../consumers/writer-protocol.js';
import { influxOptions, type Services } from './shared.js';
import type { WriterThreadData } from './writer-thread.js';

export interface WriterRole {
  writer: Writer;
  /** Resolves once the writer has joined its group; start-up waits for it last. */
  started: Promise<void>;
}

/**
 * The store writer: a consumer group from the telemetry stream into the store, on its own thread in production
 * with WRITER_THREAD (off by default: on 2 shared cores the thread takes CPU from ingest), else on this one.
 */
export async function startWriterRole(services: Services): Promise<WriterRole> {
  const { config, kafka, production, logger, metrics } = services;
  const input: WriterThreadInput = {
    writer: { groupId: kafka.writerGroupId, concurrency: config.KAFKA_PARTITIONS, batchSize: config.WRITER_BATCH_SIZE, flushMs: config.WRITER_FLUSH_MS },
    logLevel: logger.level,
  };
  let writer: Writer;
  if (production && config.WRITER_THREAD) {
    const data: WriterThreadData = { ...input, kafka, influx: influxOptions(config) };
    writer = createWriterThread({ logger, metrics, spawn: () => startThreadModule(import.meta.url, 'writer-thread', data) });
  } else {
    const deadLetters = await services.bus.createProducer();
    services.closers.add('writer-deadletters', () => deadLetters.close());
    writer = createWriter(input.writer, { bus: services.bus, store: services.store, deadLetters, logger, metrics });
  }
  // Joining the writer group waits out the session of a member that died (a crashed Sluice restarting: 20 s).
  // Devices need no group: the gateway opens meanwhile, and start-up completes once the writer has joined.
  const started = writer.start();
  started.catch(() => undefined);
  services.closers.add('writer', () => writer.close());
  services.readiness.push({ name: 'writer', check: async () => writer.status().state !== 'unauthorized' });
  if (production) {
    // A group shared with another deployment leaves partitions unread while every member looks busy. (The
    // embedded queue lives in this process, with this writer its group's only member.)
    services.readiness.push({
      name: 'writer-group',
      check: async () => writer.status().group?.ready === true,
      note: () => {
        const group = writer.status().group;
        return group ? group.note : 'the writer has not joined its consumer group yet';
      },
    });
  }
  return { writer, started };
}
