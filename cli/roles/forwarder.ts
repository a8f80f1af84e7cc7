import { sluiceError, ErrorCodes } from '../../core/errors.js';
import type { SinkStatus } from '../../core/seams.js';
import { createSinkLoop, type SinkLoop } from '../../consumers/sink-loop.js';
import { configuredSinks, forwardSink, SINK_SWITCHES } from './sinks.js';
import type { Services } from './shared.js';

export interface ForwarderRole {
  /** Each sink loop's status, for the pipeline view. */
  statuses(): SinkStatus[];
  /** Resolves once every sink loop has joined its group; start-up waits for it last. */
  started: Promise<void>;
}

/**
 * The forwarder (docs/contracts.md §16): one sink loop (consumers/sink-loop.ts) per configured forward sink, each in a
 * consumer group of its own, so one sink's outage holds only its own offsets. Readiness turns red for a sink whose
 * writes have failed for longer than FORWARDER_UNREADY_AFTER_MS, or that refuses our credentials.
 */
export async function startForwarderRole(services: Services): Promise<ForwarderRole> {
  const { config, kafka, logger, metrics, production, closers } = services;
  const names = configuredSinks(config);
  if (names.length === 0) {
    throw sluiceError(ErrorCodes.CONFIG_INVALID, `the forwarder role has no sink to forward to: set ${SINK_SWITCHES.join(', ')} or leave the role out`);
  }
  // Opened before the loops, so it closes after them: no refusal is left without a producer.
  const deadLetters = await services.bus.createProducer();
  closers.add('forwarder-deadletters', () => deadLetters.close());
  const loops: SinkLoop[] = [];
  for (const name of names) {
    const entry = forwardSink(name);
    const sink = await entry.open(config, logger);
    closers.add(`sink-${name}`, () => sink.close());
    const { records, lingerMs } = entry.batch(config);
    const loop = createSinkLoop(
      { groupId: kafka.sinkGroupIds[name], concurrency: config.KAFKA_PARTITIONS, batchRecords: records, lingerMs },
      { bus: services.bus, sink, deadLetters, logger, metrics },
    );
    loops.push(loop);
    closers.add(`forwarder-${name}`, () => loop.close());
    services.readiness.push({
      name: `sink-${name}`,
      check: async () => sinkReady(loop.status(), config.FORWARDER_UNREADY_AFTER_MS),
      note: () => sinkNote(loop.status()),
    });
    if (production) {
      services.readiness.push({
        name: `sink-${name}-group`,
        check: async () => loop.status().group?.ready === true,
        note: () => {
          const group = loop.status().group;
          return group ? group.note : `the ${name} sink has not joined its consumer group yet`;
        },
      });
    }
  }
  // Joining a group waits out the session of a member that died; the process opens meanwhile.
  const started = Promise.all(loops.map((loop) => loop.start())).then(() => undefined);
  started.catch(() => undefined);
  return { statuses: () => loops.map((loop) => loop.status()), started };
}

/** Ready unless the sink refuses our credentials or has been failing for longer than `unreadyAfterMs`. */
export function sinkReady(status: SinkStatus, unreadyAfterMs: number, now = Date.now()): boolean {
  if (status.state === 'unauthorized') return false;
  return status.failingSince === undefined || now - status.failingSince <= unreadyAfterMs;
}

function sinkNote(status: SinkStatus): string | undefined {
  if (status.state === 'unauthorized') return `${status.sink} refuses our credentials: ${status.lastError ?? ''}`.trim();
  if (status.failingSince !== undefined) {
    return `${status.sink} writes failing since ${new Date(status.failingSince).toISOString()} (held in Kafka, retried): ${status.lastError ?? ''}`.trim();
  }
  if (status.connection && !status.connection.connected && status.connection.note) return `${status.sink}: ${status.connection.note}`;
  return undefined;
}
