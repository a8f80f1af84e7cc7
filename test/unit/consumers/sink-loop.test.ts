import { describe, expect, it } from 'vitest';
import { createSinkLoop, cutToLimits } from '../../../consumers/sink-loop.js';
import { ErrorCodes, sluiceError } from '../../../core/errors.js';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import type { Reading } from '../../../core/reading.js';
import { readingIdOf } from '../../../core/records.js';
import type { BatchHandler, OutgoingRecord, Sink, SinkRecord, StreamBus, StreamConsumer, StreamProducer } from '../../../core/seams.js';
import { createEmbeddedBus } from '../../../core/streams/embedded.js';
import { waitUntil } from '../../support/wait.js';

const waitFor = (condition: () => boolean, timeoutMs: number, what: string) => waitUntil(async () => (condition() ? true : undefined), { timeoutMs, intervalMs: 2, what });

const reading = (deviceId: string, n: number): Reading => ({ deviceId, metric: 'm', value: n, ts: n, timeNs: String(n * 1_000_000), receivedAt: 1_000 + n });

/** A sink that keeps what it acknowledged, in order, and fails or refuses as the test says. */
function recordingSink(overrides: Partial<Sink> & { failWrites?: number; refuse?: (record: SinkRecord) => string | undefined } = {}) {
  const delivered: SinkRecord[] = [];
  const writes: number[] = [];
  let failuresLeft = overrides.failWrites ?? 0;
  const sink: Sink = {
    name: 'rabbitmq',
    limits: { maxRecords: 1000, maxBytes: 1 << 20 },
    async write(records) {
      writes.push(records.length);
      if (failuresLeft > 0) {
        failuresLeft--;
        throw sluiceError(ErrorCodes.SINK_UNAVAILABLE, 'server down', { details: { retryAfterMs: 1 } });
      }
      const refused = [];
      for (const [index, record] of records.entries()) {
        const reason = overrides.refuse?.(record);
        if (reason) refused.push({ index, reason });
        else delivered.push(record);
      }
      return { refused };
    },
    ping: async () => true,
    health: () => ({ connected: true }),
    close: async () => undefined,
    ...overrides,
  };
  return { sink, delivered, writes };
}

function recordingProducer() {
  const sent: OutgoingRecord[] = [];
  const producer: StreamProducer = { send: async (_stream, records) => void sent.push(...records), sendBatch: async () => undefined, close: async () => undefined };
  return { producer, sent };
}

/** A bus whose one consumer hands the test its batch handler, so batches are delivered by hand. */
function handBus() {
  let handler: BatchHandler | undefined;
  const consumer: StreamConsumer = { run: async (h) => void (handler = h), assignment: () => undefined, close: async () => undefined };
  const bus = { kind: 'embedded', createConsumer: () => consumer } as Partial<StreamBus> as StreamBus;
  const deliver = (partition: number, readings: Reading[]) =>
    handler!({
      stream: 'telemetry',
      partition,
      records: readings.map((r, i) => ({ key: r.deviceId, value: Buffer.from(JSON.stringify(r)), partition, offset: String(i), timestamp: r.receivedAt })),
      heartbeat: async () => undefined,
    });
  return { bus, deliver };
}

describe('cutToLimits', () => {
  const record = (bytes: number): SinkRecord => ({ reading: reading('d', bytes), json: Buffer.alloc(bytes), id: String(bytes) });
  it('cuts runs by record count and by bytes, in order, and lets a record larger than the byte limit go alone', () => {
    const records = [record(4), record(4), record(4), record(20), record(3)];
    expect(cutToLimits(records, { maxRecords: 2, maxBytes: 100 }).map((run) => run.map((r) => r.json.length))).toEqual([[4, 4], [4, 20], [3]]);
    expect(cutToLimits(records, { maxRecords: 10, maxBytes: 10 }).map((run) => run.map((r) => r.json.length))).toEqual([[4, 4], [4], [20], [3]]);
  });
});

describe('sink loop', () => {
  it('delivers every reading of the embedded queue once, per device in order, with its stable id', async () => {
    const bus = createEmbeddedBus({ partitions: 3 });
    const producer = await bus.createProducer();
    const { sink, delivered } = recordingSink();
    const { producer: deadLetters } = recordingProducer();
    const loop = createSinkLoop({ groupId: 'g', concurrency: 3, batchRecords: 7, lingerMs: 1 }, { bus, sink, deadLetters, logger: createLogger('silent'), metrics: createMetrics() });
    await loop.start();
    const devices = ['a', 'b.c', 'd'];
    for (let n = 1; n <= 50; n++) {
      await producer.send('telemetry', devices.map((d) => ({ key: d, value: JSON.stringify(reading(d, n)), timestamp: 1_000 + n })));
    }
    await waitFor(() => delivered.length === 150, 10_000, 'every reading delivered');
    for (const device of devices) {
      const values = delivered.filter((r) => r.reading.deviceId === device).map((r) => r.reading.value);
      expect(values).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    }
    expect(new Set(delivered.map((r) => r.id)).size).toBe(150);
    expect(delivered[0]!.id).toBe(readingIdOf(delivered[0]!.reading));
    expect(loop.status()).toMatchObject({ sink: 'rabbitmq', state: 'writing', delivered: 150, refused: 0, lastDeliveredTs: 1_050 });
    await loop.close();
    await bus.close();
  });

  it('dead-letters what the sink refuses for good, with its reason, and delivers the rest without holding the partition', async () => {
    const { bus, deliver } = handBus();
    const { sink, delivered } = recordingSink({ refuse: (r) => (r.reading.value === 2 ? 'message too large (max 10 bytes)' : undefined) });
    const { producer: deadLetters, sent } = recordingProducer();
    const metrics = createMetrics();
    const loop = createSinkLoop({ groupId: 'g', concurrency: 1, batchRecords: 10, lingerMs: 1 }, { bus, sink, deadLetters, logger: createLogger('silent'), metrics });
    await loop.start();
    await deliver(0, [reading('d1', 1), reading('d1', 2), reading('d1', 3)]);
    expect(delivered.map((r) => r.reading.value)).toEqual([1, 3]);
    expect(sent).toHaveLength(1);
    const letter = JSON.parse(sent[0]!.value) as { code: string; reason: string; deviceId: string; payload: string };
    expect(letter).toMatchObject({ code: 'SINK_REJECTED', reason: 'rabbitmq refused this reading: message too large (max 10 bytes)', deviceId: 'd1' });
    expect(JSON.parse(Buffer.from(letter.payload, 'base64').toString())).toMatchObject({ value: 2 });
    expect(loop.status()).toMatchObject({ delivered: 2, refused: 1 });
    expect((await metrics.sinkRefused.get()).values[0]).toMatchObject({ labels: { sink: 'rabbitmq' }, value: 1 });
    await loop.close();
  });

  it('retries a failed write until the sink takes it, resuming after the runs already delivered, and reports the outage', async () => {
    const { bus, deliver } = handBus();
    let failNext = false;
    const base = recordingSink();
    const sink: Sink = {
      ...base.sink,
      limits: { maxRecords: 2, maxBytes: 1 << 20 },
      async write(records) {
        if (failNext) {
          failNext = false;
          throw sluiceError(ErrorCodes.SINK_UNAVAILABLE, 'connection refused', { details: { retryAfterMs: 5 } });
        }
        // The second run of the first merged batch fails once: the first must not be written again.
        if (records[0]!.reading.value === 3 && !seenThree) {
          seenThree = true;
          failNext = true;
          return base.sink.write(records).then(() => {
            throw sluiceError(ErrorCodes.SINK_UNAVAILABLE, 'no ack');
          });
        }
        return base.sink.write(records);
      },
    };
    let seenThree = false;
    const { producer: deadLetters } = recordingProducer();
    const metrics = createMetrics();
    const loop = createSinkLoop({ groupId: 'g', concurrency: 1, batchRecords: 4, lingerMs: 1, retryDelayMs: 1 }, { bus, sink, deadLetters, logger: createLogger('silent'), metrics });
    await loop.start();
    const states: string[] = [];
    const watching = setInterval(() => states.push(loop.status().state), 1);
    await deliver(0, [1, 2, 3, 4].map((n) => reading('d1', n)));
    clearInterval(watching);
    // Run [1,2] once; run [3,4] acknowledged by the sink but its write threw, so it comes again (at least once).
    expect(base.delivered.map((r) => r.reading.value)).toEqual([1, 2, 3, 4, 3, 4]);
    expect((await metrics.sinkRetries.get()).values[0]).toMatchObject({ labels: { sink: 'rabbitmq' }, value: 2 });
    expect(loop.status().state).toBe('writing');
    expect(loop.status().failingSince).toBeUndefined();
    await loop.close();
  });

  it('holds a partition while the sink is down: its handler does not resolve, so its offsets are not committed', async () => {
    const { bus, deliver } = handBus();
    let up = false;
    const base = recordingSink();
    const sink: Sink = {
      ...base.sink,
      async write(records) {
        if (!up) throw sluiceError(ErrorCodes.SINK_UNAVAILABLE, 'connection refused');
        return base.sink.write(records);
      },
    };
    const { producer: deadLetters } = recordingProducer();
    const loop = createSinkLoop({ groupId: 'g', concurrency: 1, batchRecords: 10, lingerMs: 1, retryDelayMs: 5, maxRetryDelayMs: 20 }, { bus, sink, deadLetters, logger: createLogger('silent'), metrics: createMetrics() });
    await loop.start();
    let handled = false;
    const handling = deliver(0, [reading('d1', 1)]).then(() => (handled = true));
    await waitFor(() => loop.status().state === 'retrying', 5_000, 'the loop retries');
    expect(loop.status()).toMatchObject({ lastError: 'connection refused', inFlight: 1 });
    expect(loop.status().failingSince).toBeTypeOf('number');
    expect(handled).toBe(false);
    up = true;
    await handling;
    expect(base.delivered.map((r) => r.reading.value)).toEqual([1]);
    expect(loop.status()).toMatchObject({ state: 'writing', inFlight: 0 });
    await loop.close();
  });

  it('reports refused credentials as unauthorized', async () => {
    const { bus, deliver } = handBus();
    let refuse = true;
    const base = recordingSink();
    const sink: Sink = {
      ...base.sink,
      async write(records) {
        if (refuse) throw sluiceError(ErrorCodes.SINK_UNAUTHORIZED, 'ACCESS_REFUSED - Login was refused');
        return base.sink.write(records);
      },
    };
    const { producer: deadLetters } = recordingProducer();
    const loop = createSinkLoop({ groupId: 'g', concurrency: 1, batchRecords: 10, lingerMs: 1, unauthorizedRetryMs: 10 }, { bus, sink, deadLetters, logger: createLogger('silent'), metrics: createMetrics() });
    await loop.start();
    const handling = deliver(0, [reading('d1', 1)]);
    await waitFor(() => loop.status().state === 'unauthorized', 5_000, 'unauthorized');
    refuse = false;
    await handling;
    expect(loop.status().state).toBe('writing');
    await loop.close();
  });
});

describe('sink loop shutdown', () => {
  it('gives up a write the sink does not take within closeTimeoutMs, leaving its offsets uncommitted, instead of holding shutdown', async () => {
    const { bus, deliver } = handBus();
    const base = recordingSink();
    const sink: Sink = { ...base.sink, write: async () => Promise.reject(sluiceError(ErrorCodes.SINK_UNAVAILABLE, 'connection refused')) };
    const { producer: deadLetters } = recordingProducer();
    const loop = createSinkLoop({ groupId: 'g', concurrency: 1, batchRecords: 10, lingerMs: 1, retryDelayMs: 5, closeTimeoutMs: 50 }, { bus, sink, deadLetters, logger: createLogger('silent'), metrics: createMetrics() });
    await loop.start();
    const handling = deliver(0, [reading('d1', 1)]);
    await waitFor(() => loop.status().state === 'retrying', 5_000, 'retrying');
    await loop.close();
    // The handler fails, so the consumer does not commit the batch: it is read again by whoever holds the partition next.
    await expect(handling).rejects.toMatchObject({ code: 'CLOSED' });
    expect(loop.status().state).toBe('stopped');
    expect(base.delivered).toEqual([]);
  });
});
