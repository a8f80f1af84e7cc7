import { describe, expect, it } from 'vitest';
import { createWriter } from '../../../consumers/writer.js';
import { ErrorCodes, sluiceError } from '../../../core/errors.js';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import type { Reading } from '../../../core/reading.js';
import type { BatchHandler, OutgoingRecord, ReadingStore, StreamBus, StreamConsumer, StreamName, StreamProducer } from '../../../core/seams.js';

/** A bus whose one consumer hands the test its batch handler, so batches are delivered by hand. */
function handBus() {
  let handler: BatchHandler | undefined;
  const consumer: StreamConsumer = {
    run: async (h) => void (handler = h),
    assignment: () => undefined,
    close: async () => undefined,
  };
  // Only what a writer uses of a bus.
  const bus = { kind: 'embedded', createConsumer: () => consumer } as Partial<StreamBus> as StreamBus;
  return { bus, deliver: (readings: Reading[]) => handler!({ stream: 'telemetry', partition: 0, records: readings.map((r, i) => ({ key: r.deviceId, value: Buffer.from(JSON.stringify(r)), partition: 0, offset: String(i), timestamp: r.receivedAt })), heartbeat: async () => undefined }) };
}

describe('writer dead letters', () => {
  it('a reading the store refuses becomes a dead letter holding its telemetry record, timestamped at the refusal', async () => {
    const store: ReadingStore = {
      kind: 'memory',
      write: async (readings) => {
        if (readings.some((r) => r.value === 'on')) throw sluiceError(ErrorCodes.STORE_REJECTED, 'refused', { details: { storeMessage: 'field type conflict' } });
      },
      ping: async () => true,
      close: async () => undefined,
    };
    const sent: { stream: StreamName; records: OutgoingRecord[] }[] = [];
    const deadLetters: StreamProducer = { send: async (stream, records) => void sent.push({ stream, records }), sendBatch: async () => undefined, close: async () => undefined };
    const { bus, deliver } = handBus();
    const writer = createWriter({ groupId: 'g', concurrency: 1, batchSize: 10, flushMs: 1 }, { bus, store, deadLetters, logger: createLogger('silent'), metrics: createMetrics() });
    await writer.start();
    const before = Date.now();
    await deliver([
      { deviceId: 'd1', metric: 'm', value: 1, ts: 1, timeNs: '1000000', receivedAt: 2 },
      { deviceId: 'd1', metric: 'm', value: 'on', ts: 1, timeNs: '1000000', receivedAt: 2 },
    ]);
    await writer.close();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.stream).toBe('deadletter');
    const [record] = sent[0]!.records;
    expect(record!.key).toBe('d1');
    expect(record!.timestamp).toBeGreaterThanOrEqual(before);
    expect(record!.value).toBe(
      '{"deviceId":"d1","code":"STORE_REJECTED","reason":"the store refused this reading: field type conflict","topic":"devices/d1/telemetry","payload":"eyJkZXZpY2VJZCI6ImQxIiwibWV0cmljIjoibSIsInZhbHVlIjoib24iLCJ0cyI6MSwidGltZU5zIjoiMTAwMDAwMCIsInJlY2VpdmVkQXQiOjJ9","payloadBytes":84,"receivedAt":2}',
    );
  });
});
