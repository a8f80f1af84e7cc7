import type { Logger } from '../core/logger.js';
import { MAX_READINGS_PER_MESSAGE, processClock } from '../core/precise-clock.js';
import type { Metrics } from '../core/metrics.js';
import type { PayloadFormat } from '../core/reading.js';
import { createDeadLetter, encodeDeadLetter, encodeEvent, encodeReading } from '../core/records.js';
import type { Ingest, OutgoingRecord, StreamName, StreamProducer } from '../core/seams.js';
import { createBatcher, type Batcher } from '../core/batcher.js';
import { partitionForKey } from '../core/murmur2.js';
import { backoffDelay, type BackoffOptions } from '../core/retry.js';
import { normalize, type NormalizeOptions } from './normalize/index.js';

export interface BridgeOptions {
  lingerMs: number;
  maxBatchRecords: number;
  maxInflightRecords: number;
  normalize: NormalizeOptions;
  /** A batch unacknowledged this long counts (and is logged) as a queue outage. */
  outageAfterMs?: number;
  /** An outage is declared over once records have been accepted for this long without a new stall. */
  outageSettleMs?: number;
}

export interface BridgeDeps {
  /** At least one; records of a device always go through the same one. */
  producers: StreamProducer[];
  logger: Logger;
  metrics: Metrics;
}

/** The bridge is the pipeline's ingest stage (core/seams.ts). */
export type Bridge = Ingest;

/**
 * Between batch retries: kafkajs has already retried within the send; once a leader election is over, the next
 * attempt should not be far away (this bounds the PUBACK delay a broker failure adds), and a total outage costs little.
 */
const PRODUCER_BACKOFF: Readonly<BackoffOptions> = { initialMs: 100, maxMs: 1000 };

interface QueuedRecord {
  stream: StreamName;
  record: OutgoingRecord;
}

export function createBridge(options: BridgeOptions, deps: BridgeDeps): Bridge {
  const log = deps.logger.child({ module: 'bridge' });
  const { metrics } = deps;
  // One line when an outage starts and one when it ends, with its duration: not one per record or retry. The end
  // is declared only after records have flowed for `outageSettleMs`: right after a broker restart, partition
  // leaders move and a batch can stall again, which is the same outage, not a new one.
  const settleMs = options.outageSettleMs ?? 10_000;
  let outageSince: number | undefined;
  let settling: NodeJS.Timeout | undefined;
  let recoveredAt = 0;
  const declareRecovered = (): void => {
    clearTimeout(settling);
    settling = undefined;
    if (outageSince === undefined) return;
    log.warn({ outageMs: Math.round(recoveredAt - outageSince) }, 'queue accepting records again');
    outageSince = undefined;
  };
  const outage = {
    begin(error: unknown, since: number) {
      if (settling) {
        clearTimeout(settling);
        settling = undefined;
        return;
      }
      if (outageSince !== undefined) return;
      outageSince = since;
      log.error({ err: error }, 'queue not accepting records; holding acknowledgements and retrying');
    },
    end() {
      if (outageSince === undefined || settling) return;
      recoveredAt = performance.now();
      settling = setTimeout(declareRecovered, settleMs);
      settling.unref();
    },
  };
  const formatOptions = new Map<PayloadFormat, NormalizeOptions>();
  const optionsFor = (format: PayloadFormat | undefined): NormalizeOptions => {
    if (!format) return options.normalize;
    let forced = formatOptions.get(format);
    if (!forced) formatOptions.set(format, (forced = Object.freeze({ ...options.normalize, formatOverride: format })));
    return forced;
  };

  /**
   * One batcher per producer. kafkajs keeps one idempotent request in flight per connection, so a single
   * producer waits a whole round trip per batch; several producers overlap their round trips. A device
   * always maps to the same shard (murmur2 of its id), which keeps its records in order.
   */
  const shards: Batcher<QueuedRecord>[] = deps.producers.map((producer) =>
    createBatcher<QueuedRecord>({
      lingerMs: options.lingerMs,
      maxBatchItems: options.maxBatchRecords,
      maxPendingItems: Math.max(1, Math.ceil(options.maxInflightRecords / deps.producers.length)),
      flush: async (items) => {
        const started = performance.now();
        // kafkajs may spend a long while retrying inside one send; a batch this slow is an outage too.
        const slow = setTimeout(() => outage.begin(undefined, started), options.outageAfterMs ?? 2000);
        try {
          await producer.sendBatch([...groupByStream(items)].map(([stream, records]) => ({ stream, records })));
        } finally {
          clearTimeout(slow);
        }
        outage.end();
        metrics.producerBatchRecords.observe(items.length);
        metrics.producerBatchSeconds.observe((performance.now() - started) / 1000);
        metrics.inflightReadings.dec(items.length);
      },
      retryDelayMs: (attempt) => backoffDelay(attempt, PRODUCER_BACKOFF),
      onFlushError: (error) => {
        metrics.producerRetries.inc();
        outage.begin(error, performance.now());
      },
    }),
  );
  const shardOf = (deviceId: string): Batcher<QueuedRecord> => shards[shards.length === 1 ? 0 : partitionForKey(deviceId, shards.length)]!;

  async function enqueue(deviceId: string, records: QueuedRecord[]): Promise<void> {
    metrics.inflightReadings.inc(records.length);
    try {
      await shardOf(deviceId).add(records);
    } catch (error) {
      metrics.inflightReadings.dec(records.length);
      throw error;
    }
  }

  return {
    async ingest(input) {
      // A publish from the gateway carries its stamp; one from elsewhere (tools, tests) is stamped here.
      const stamped = input.receivedAtNs === undefined ? { ...input, receivedAtNs: processClock.next(MAX_READINGS_PER_MESSAGE) } : input;
      const result = normalize(stamped, optionsFor(input.format));
      const records: QueuedRecord[] = result.readings.map((reading) => ({
        stream: 'telemetry',
        record: encodeReading(reading),
      }));
      for (const rejection of result.rejections) {
        metrics.rejections.inc({ code: rejection.code });
        const { deviceId, topic, payload, receivedAt } = input;
        records.push({
          stream: 'deadletter',
          record: encodeDeadLetter(createDeadLetter({ deviceId, code: rejection.code, reason: rejection.reason, topic, payload, receivedAt })),
        });
      }
      if (result.rejections.length > 0) {
        log.warn(
          { deviceId: input.deviceId, topic: input.topic, codes: result.rejections.map((r) => r.code), reason: result.rejections[0]!.reason },
          'payload rejected (dead-lettered)',
        );
      }
      metrics.readingsNormalized.inc(result.readings.length);
      await enqueue(input.deviceId, records);
      return { readings: result.readings.length, rejected: result.rejections.length };
    },

    async publishEvent(event) {
      await enqueue(event.deviceId, [{ stream: 'events', record: encodeEvent(event) }]);
    },

    saturated: () => shards.reduce((n, shard) => n + shard.pending(), 0) >= options.maxInflightRecords,

    async close() {
      await Promise.all(shards.map((shard) => shard.close()));
      if (settling) declareRecovered();
    },
  };
}

function groupByStream(items: QueuedRecord[]): Map<StreamName, OutgoingRecord[]> {
  const grouped = new Map<StreamName, OutgoingRecord[]>();
  for (const item of items) {
    let list = grouped.get(item.stream);
    if (!list) grouped.set(item.stream, (list = []));
    list.push(item.record);
  }
  return grouped;
}
