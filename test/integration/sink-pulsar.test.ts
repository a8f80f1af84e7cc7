import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSluiceError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import type { Reading } from '../../core/reading.js';
import { timeNsOfMs } from '../../core/reading.js';
import { encodeReading, readingIdOf } from '../../core/records.js';
import type { Sink, SinkRecord } from '../../core/seams.js';
import { createPulsarSink } from '../../consumers/sinks/pulsar.js';
import { startPrivatePulsar, type PrivatePulsar } from '../../scripts/sinks/pulsar.js';
import type { ForwardedMessage } from '../../scripts/sinks/types.js';

const MAX_MESSAGE_SIZE = 16 * 1024;
const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent', { pretty: false });
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const baseTs = Date.now() - 3_600_000;
let nextSeq = 0;

/** Readings with a unique sequence number as value and time offset, round-robin over `devices` devices. */
function records(count: number, devices: number, options: { value?: (seq: number) => Reading['value'] } = {}): SinkRecord[] {
  return Array.from({ length: count }, () => {
    const seq = nextSeq++;
    const reading: Reading = {
      deviceId: `${runId}-d${seq % devices}`,
      metric: 'seq',
      value: options.value?.(seq) ?? seq,
      ts: baseTs + seq,
      timeNs: timeNsOfMs(baseTs + seq),
      receivedAt: Date.now(),
    };
    return { reading, json: Buffer.from(String(encodeReading(reading).value)), id: readingIdOf(reading) };
  });
}

function errorCodeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (isSluiceError(error) ? error.code : `not a SluiceError: ${String(error)}`),
  );
}

describe('pulsar sink against a private standalone Pulsar', () => {
  let server: PrivatePulsar;
  let sink: Sink;
  const seen: ForwardedMessage[] = [];
  let consumer: { close(): Promise<void> } | undefined;

  beforeAll(async () => {
    server = await startPrivatePulsar({ topicPrefix: `sinktest-${runId}`, maxMessageSize: MAX_MESSAGE_SIZE, log: () => undefined });
    sink = createPulsarSink({ url: server.env.PULSAR_URL!, topic: server.env.PULSAR_TOPIC!, maxRecords: 1000, ackTimeoutMs: 20_000 }, { logger });
    consumer = await server.consume((message) => seen.push(message));
  }, 600_000);

  afterAll(async () => {
    await consumer?.close();
    await sink?.close();
    await server?.close();
  }, 60_000);

  /** Waits until every id of `batch` arrived, then checks each once, in order per device, with its body and key. */
  async function expectDeliveredOnce(messages: ForwardedMessage[], batch: SinkRecord[]): Promise<void> {
    const wanted = new Set(batch.map((record) => record.id));
    await expect.poll(() => messages.filter((message) => wanted.has(message.id!)).length, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(wanted.size);
    const mine = messages.filter((message) => wanted.has(message.id!));
    expect(mine).toHaveLength(batch.length);
    const byId = new Map(batch.map((record) => [record.id, record]));
    for (const message of mine) {
      const record = byId.get(message.id!)!;
      expect(message.body.equals(record.json)).toBe(true);
      expect(message.key).toBe(record.reading.deviceId);
    }
    const orderOf = (list: { key?: string; id?: string }[], device: string) => list.filter((m) => m.key === device).map((m) => m.id);
    for (const device of new Set(batch.map((record) => record.reading.deviceId))) {
      expect(orderOf(mine, device)).toEqual(orderOf(batch.map((record) => ({ key: record.reading.deviceId, id: record.id })), device));
    }
  }

  // First, while the sink still batches: this broker's maxMessageSize (16 KiB) is below the producer's batch size
  // (128 KiB), so it refuses a batch once the broker gathers more than ~95 readings into one. How many a batch holds
  // depends on how fast the frames arrive, so writes go on until one meets it. The sink then turns batching off for
  // good and fails that write, which the loop would retry; the tests below run without batching.
  it('stops batching for good when the broker refuses a whole batch as too large, and delivers every write', async () => {
    const written: SinkRecord[] = [];
    let fellBack = false;
    for (let attempt = 0; attempt < 20 && !fellBack; attempt++) {
      const batch = records(400, 4);
      written.push(...batch);
      try {
        expect(await sink.write(batch)).toEqual({ refused: [] });
      } catch (error) {
        expect(error).toMatchObject({ code: 'SINK_UNAVAILABLE', message: expect.stringMatching(/larger than its maxMessageSize \(16384 bytes\); retrying without batching/) });
        fellBack = true;
        expect(await sink.write(batch)).toEqual({ refused: [] });
      }
    }
    expect(fellBack).toBe(true);
    // Without batching, writes far larger in total than the broker's limit go through.
    for (let i = 0; i < 3; i++) {
      const batch = records(400, 4);
      written.push(...batch);
      expect(await sink.write(batch)).toEqual({ refused: [] });
    }
    const wanted = new Set(written.map((record) => record.id));
    await expect.poll(() => new Set(seen.filter((message) => wanted.has(message.id!)).map((message) => message.id)).size, { timeout: 60_000, interval: 200 }).toBe(wanted.size);
  }, 120_000);

  it('delivers a batch from several devices once each, in order per device, body = the JSON, key = the device', async () => {
    const batch = records(300, 7);
    expect(await sink.write(batch)).toEqual({ refused: [] });
    expect(sink.health().connected).toBe(true);
    await expectDeliveredOnce(seen, batch);
  });

  it('delivers every record of many writes', async () => {
    const all: SinkRecord[] = [];
    for (let i = 0; i < 25; i++) {
      const batch = records(200, 5);
      all.push(...batch);
      expect(await sink.write(batch)).toEqual({ refused: [] });
    }
    await expectDeliveredOnce(seen, all);
  });

  it("refuses what the broker never takes, with the broker's reason, and delivers the rest of the write", async () => {
    const before = records(3, 3);
    const tooLargeForBroker = records(1, 1, { value: () => 'x'.repeat(MAX_MESSAGE_SIZE + 100) })[0]!;
    const tooLargeForFrame = records(1, 1, { value: () => 'y'.repeat(900 * 1024) })[0]!;
    const after = records(3, 3);
    const batch = [...before, tooLargeForBroker, ...after.slice(0, 1), tooLargeForFrame, ...after.slice(1)];
    const { refused } = await sink.write(batch);
    expect(refused.map((refusal) => refusal.index)).toEqual([3, 5]);
    expect(refused[0]!.reason).toMatch(new RegExp(`InvalidMessageException.*exceeds ${MAX_MESSAGE_SIZE} bytes`));
    expect(refused[1]!.reason).toMatch(/webSocketMaxTextFrameSize/);
    await expectDeliveredOnce(seen, [...before, ...after]);
    expect(seen.some((message) => message.id === tooLargeForBroker.id || message.id === tooLargeForFrame.id)).toBe(false);
  });

  it('fails fast while the broker is down, reconnects by itself once it is back, and loses nothing', async () => {
    const beforeOutage = records(200, 4);
    expect(await sink.write(beforeOutage)).toEqual({ refused: [] });

    await server.stop();
    // Bounded: the write rejects (the test's own timeout is the bound), it does not hang.
    expect(await errorCodeOf(sink.write(records(10, 2)))).toBe('SINK_UNAVAILABLE');
    expect(await sink.ping()).toBe(false);
    expect(sink.health()).toMatchObject({ connected: false, note: expect.stringMatching(/connection (refused|closed)/) });

    await server.start();
    expect(await sink.ping()).toBe(true);
    // As the sink loop would: retry the same write until it goes through, on the same sink.
    const afterOutage = records(200, 4);
    await expect
      .poll(async () => (await errorCodeOf(sink.write(afterOutage))) ?? 'ok', { timeout: 90_000, interval: 1_000 })
      .toBe('ok');
    expect(sink.health().connected).toBe(true);

    // A fresh reader after the restart: everything acknowledged before the crash is still on the topic.
    const again: ForwardedMessage[] = [];
    const reader = await server.consume((message) => again.push(message));
    try {
      await expectDeliveredOnce(again, beforeOutage);
      const afterIds = new Set(afterOutage.map((record) => record.id));
      await expect.poll(() => new Set(again.filter((m) => afterIds.has(m.id!)).map((m) => m.id)).size, { timeout: 60_000 }).toBe(afterIds.size);
    } finally {
      await reader.close();
    }
  }, 300_000);

  it('refuses writes after close', async () => {
    await sink.close();
    expect(await errorCodeOf(sink.write(records(1, 1)))).toBe('CLOSED');
    expect(sink.health().connected).toBe(false);
  });
});
