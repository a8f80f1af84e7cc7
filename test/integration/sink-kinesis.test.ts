import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKinesisSink } from '../../consumers/sinks/kinesis.js';
import { ErrorCodes } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { timeNsOfMs, type Reading } from '../../core/reading.js';
import { encodeReading, readingIdOf } from '../../core/records.js';
import type { Sink, SinkRecord } from '../../core/seams.js';
import { startPrivateKinesis, type PrivateKinesis } from '../../scripts/sinks/kinesis.js';
import type { ForwardedMessage } from '../../scripts/sinks/types.js';

const logger = createLogger('silent');
const baseTs = Date.now() - 3_600_000;
const runId = Math.random().toString(36).slice(2, 8);
let nextSeq = 0;

/** Readings with a unique sequence number as value and time, spread over `devices` devices in turn. */
function records(count: number, devices: number, devicePrefix = `kin-${runId}-`): SinkRecord[] {
  return Array.from({ length: count }, () => {
    const seq = nextSeq++;
    return sinkRecord({ deviceId: `${devicePrefix}${seq % devices}`, metric: 'seq', value: seq, ts: baseTs + seq, timeNs: timeNsOfMs(baseTs + seq), receivedAt: Date.now() });
  });
}

function sinkRecord(reading: Reading): SinkRecord {
  return { reading, json: Buffer.from(encodeReading(reading).value), id: readingIdOf(reading) };
}

describe('Kinesis sink against a private kinesis-local', () => {
  let server: PrivateKinesis;
  let sink: Sink;
  let reader: { close(): Promise<void> } | undefined;
  /** Every message the stream holds, by reading id, in the order the reader saw them. */
  const seen: ForwardedMessage[] = [];
  const countById = new Map<string, number>();

  const envBefore = { ...process.env };

  beforeAll(async () => {
    server = await startPrivateKinesis({ log: () => undefined });
    // The sink finds its credentials and region as the forwarder would: the SDK's chain, from the environment.
    Object.assign(process.env, server.env);
    sink = createKinesisSink({ stream: server.stream, endpoint: server.endpoint, region: server.region, maxRecords: 500, requestTimeoutMs: 5_000 }, { logger });
    reader = await server.consume((message) => {
      seen.push(message);
      const id = readingIdOf(JSON.parse(message.body.toString('utf8')) as Reading);
      countById.set(id, (countById.get(id) ?? 0) + 1);
    });
  });

  afterAll(async () => {
    await reader?.close();
    await sink?.close();
    await server?.close();
    process.env = envBefore;
  });

  async function expectDelivered(batch: readonly SinkRecord[]): Promise<void> {
    await expect.poll(() => batch.filter((record) => countById.has(record.id)).length, { timeout: 30_000, interval: 100 }).toBe(batch.length);
  }

  /** Each record once, with the body and key the sink wrote, and per device in write order. */
  function expectExactlyOnceInOrder(batch: readonly SinkRecord[]): void {
    for (const record of batch) expect(countById.get(record.id), record.id).toBe(1);
    const ids = new Set(batch.map((record) => record.id));
    const byId = new Map(batch.map((record) => [record.id, record]));
    const orderSeen = new Map<string, number[]>();
    for (const message of seen) {
      const id = readingIdOf(JSON.parse(message.body.toString('utf8')) as Reading);
      if (!ids.has(id)) continue;
      const record = byId.get(id)!;
      expect(message.body.equals(record.json)).toBe(true);
      expect(message.key).toBe(record.reading.deviceId);
      const list = orderSeen.get(record.reading.deviceId) ?? [];
      list.push(record.reading.value as number);
      orderSeen.set(record.reading.deviceId, list);
    }
    for (const [device, values] of orderSeen) expect(values, device).toEqual([...values].sort((a, b) => a - b));
  }

  it('delivers a batch from several devices, each reading once and per device in order', async () => {
    const batch = records(240, 5);
    await expect(sink.write(batch)).resolves.toEqual({ refused: [] });
    await expectDelivered(batch);
    expectExactlyOnceInOrder(batch);
    expect(sink.health()).toEqual({ connected: true });
    await expect(sink.ping()).resolves.toBe(true);
  }, 120_000);

  it('delivers every reading of many writes', async () => {
    const all: SinkRecord[] = [];
    // Many devices, as a fleet is: a write then takes one or two PutRecords (one record per device per request).
    for (let i = 0; i < 20; i++) {
      const batch = records(100, 60);
      all.push(...batch);
      await expect(sink.write(batch)).resolves.toEqual({ refused: [] });
    }
    await expectDelivered(all);
    expectExactlyOnceInOrder(all);
  }, 120_000);

  it('refuses a reading over the 1 MiB record limit and delivers the rest of the write', async () => {
    const [before, after] = [records(3, 2), records(3, 2)];
    const seq = nextSeq++;
    const huge = sinkRecord({
      deviceId: `kin-${runId}-0`,
      metric: 'blob',
      value: 'x'.repeat(1024 * 1024),
      ts: baseTs + seq,
      timeNs: timeNsOfMs(baseTs + seq),
      receivedAt: Date.now(),
    });
    const result = await sink.write([...before, huge, ...after]);
    expect(result.refused).toEqual([{ index: 3, reason: expect.stringMatching(/larger than Kinesis' 1 MiB record limit/) }]);
    await expectDelivered([...before, ...after]);
    expectExactlyOnceInOrder([...before, ...after]);
    expect(countById.has(huge.id)).toBe(false);
  });

  it('fails a write while the server is down, reports it, and delivers again once it is back without a new sink', async () => {
    const written = records(50, 5);
    await expect(sink.write(written)).resolves.toEqual({ refused: [] });
    await expectDelivered(written);

    await server.stop();
    const during = records(20, 5);
    await expect(sink.write(during)).rejects.toMatchObject({ code: ErrorCodes.SINK_UNAVAILABLE, details: { retryAfterMs: expect.any(Number) } });
    await expect(sink.ping()).resolves.toBe(false);
    expect(sink.health()).toEqual({ connected: false, note: 'connection refused' });

    await server.start();
    // The loop retries the failed write as it was: nothing of it reached the server, so no duplicates here.
    await expect(sink.write(during)).resolves.toEqual({ refused: [] });
    const later = records(20, 5);
    await expect(sink.write(later)).resolves.toEqual({ refused: [] });
    await expect(sink.ping()).resolves.toBe(true);
    expect(sink.health()).toEqual({ connected: true });
    await expectDelivered([...written, ...during, ...later]);
    expectExactlyOnceInOrder([...written, ...during, ...later]);
  }, 120_000);

  it('refuses writes once closed', async () => {
    await sink.close();
    await expect(sink.write(records(1, 1))).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await expect(sink.ping()).resolves.toBe(false);
    expect(sink.health().connected).toBe(false);
  });
});
