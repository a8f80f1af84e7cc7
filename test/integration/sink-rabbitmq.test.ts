/**
 * The RabbitMQ forward sink against a real RabbitMQ of its own (scripts/sinks/rabbitmq.ts): delivery and per-device
 * order, many writes, the server's refusals (too large, unroutable), an outage by SIGKILL and the lazy reconnect
 * after it, a resource alarm, refused credentials, a stream queue, close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { createRabbitmqSink, routingKeyOf } from '../../consumers/sinks/rabbitmq.js';
import { ErrorCodes } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { timeNsOfMs, type Reading } from '../../core/reading.js';
import { encodeReading, readingIdOf } from '../../core/records.js';
import type { Sink, SinkRecord } from '../../core/seams.js';
import { startPrivateRabbitmq, type PrivateRabbitmq } from '../../scripts/sinks/rabbitmq.js';
import type { ForwardedMessage } from '../../scripts/sinks/types.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent', { pretty: false });
const MAX_MESSAGE_BYTES = 4096;
const baseTs = Date.now() - 3_600_000;
let sequence = 0;

function recordOf(deviceId: string, metric = 'temperature', padding = 0): SinkRecord {
  const ts = baseTs + sequence++;
  const reading: Reading = {
    deviceId,
    metric,
    value: sequence,
    ts,
    timeNs: timeNsOfMs(ts),
    receivedAt: ts + 5,
    ...(padding > 0 ? { tags: { padding: 'x'.repeat(padding) } } : {}),
  };
  return { reading, json: Buffer.from(encodeReading(reading).value as string), id: readingIdOf(reading) };
}

/** Records of `devices` interleaved, `perDevice` each: one device's records are in the order it made them. */
function batchOf(devices: readonly string[], perDevice: number): SinkRecord[] {
  const records: SinkRecord[] = [];
  for (let i = 0; i < perDevice; i++) for (const device of devices) records.push(recordOf(device));
  return records;
}

/** Everything the target holds from its beginning, kept while the test reads. */
async function reader(server: PrivateRabbitmq): Promise<{ messages: ForwardedMessage[]; close(): Promise<void> }> {
  const messages: ForwardedMessage[] = [];
  const consumer = await server.consume((message) => messages.push(message));
  return { messages, close: () => consumer.close() };
}

function ofDevices(messages: readonly ForwardedMessage[], devices: readonly string[]): ForwardedMessage[] {
  return messages.filter((message) => devices.includes((JSON.parse(message.body.toString('utf8')) as Reading).deviceId));
}

/** Each record exactly once, and per device in the order written; bodies as written. */
function expectDeliveredOnce(messages: readonly ForwardedMessage[], records: readonly SinkRecord[]): void {
  const byId = new Map(records.map((record) => [record.id, record]));
  const seen = messages.filter((message) => message.id !== undefined && byId.has(message.id));
  expect(seen.length).toBe(records.length);
  expect(new Set(seen.map((message) => message.id)).size).toBe(records.length);
  for (const message of seen) {
    const record = byId.get(message.id!)!;
    expect(message.body.equals(record.json)).toBe(true);
    expect(message.key).toBe(routingKeyOf(record.reading.deviceId, record.reading.metric));
  }
  expectPerDeviceOrder(seen, records);
}

function expectPerDeviceOrder(messages: readonly ForwardedMessage[], records: readonly SinkRecord[]): void {
  const position = new Map(records.map((record, index) => [record.id, index]));
  const lastByDevice = new Map<string, number>();
  for (const message of messages) {
    const index = position.get(message.id!);
    if (index === undefined) continue;
    const device = records[index]!.reading.deviceId;
    expect(index, `device ${device} out of order`).toBeGreaterThan(lastByDevice.get(device) ?? -1);
    lastByDevice.set(device, index);
  }
}

function firstOccurrences(messages: readonly ForwardedMessage[]): ForwardedMessage[] {
  const seen = new Set<string>();
  return messages.filter((message) => !seen.has(message.id!) && Boolean(seen.add(message.id!)));
}

describe('RabbitMQ sink against a real RabbitMQ', () => {
  let server: PrivateRabbitmq;
  let sink: Sink;

  beforeAll(async () => {
    server = await startPrivateRabbitmq({ maxMessageBytes: MAX_MESSAGE_BYTES, log: (line) => console.error(`[rabbitmq] ${line}`) });
    sink = createRabbitmqSink(
      { url: server.url, exchange: server.exchange, queue: server.queue, queueType: 'classic', maxRecords: 1000, confirmTimeoutMs: 15_000 },
      { logger },
    );
  });
  afterAll(async () => {
    await sink?.close();
    await server?.close();
  });

  it('delivers a batch from several devices once each, per device in order, the body being the reading as JSON', async () => {
    const devices = ['t1-a', 't1-b.with.dots', 't1-c'];
    const records = batchOf(devices, 40);
    await expect(sink.write(records)).resolves.toEqual({ refused: [] });
    expect(sink.health()).toEqual({ connected: true });
    const target = await reader(server);
    try {
      await expect.poll(() => ofDevices(target.messages, devices).length, { timeout: 30_000, interval: 100 }).toBe(records.length);
      expectDeliveredOnce(target.messages, records);
      // The dotted device id is one routing-key word.
      expect(target.messages.some((message) => message.key === 't1-b%2Ewith%2Edots.temperature')).toBe(true);
    } finally {
      await target.close();
    }
  });

  it('delivers everything of many writes', async () => {
    const devices = ['t2-a', 't2-b', 't2-c', 't2-d'];
    const records: SinkRecord[] = [];
    for (let write = 0; write < 40; write++) {
      const batch = batchOf(devices, 25);
      records.push(...batch);
      await expect(sink.write(batch)).resolves.toEqual({ refused: [] });
    }
    const target = await reader(server);
    try {
      await expect.poll(() => ofDevices(target.messages, devices).length, { timeout: 60_000, interval: 200 }).toBe(records.length);
      expectDeliveredOnce(target.messages, records);
    } finally {
      await target.close();
    }
  });

  it("refuses a message over the server's max_message_size with the server's reason and delivers the rest", async () => {
    const devices = ['t3-a', 't3-b'];
    const records = [...batchOf(devices, 3), recordOf('t3-a', 'temperature', MAX_MESSAGE_BYTES * 2), ...batchOf(devices, 3)];
    const result = await sink.write(records);
    expect(result.refused).toEqual([{ index: 6, reason: expect.stringMatching(/larger than configured max size 4096/) as string }]);
    // The next write refuses it before publishing: the sink learned the limit.
    const again = [recordOf('t3-b', 'humidity', MAX_MESSAGE_BYTES * 2), ...batchOf(devices, 2)];
    const second = await sink.write(again);
    expect(second.refused).toEqual([{ index: 0, reason: expect.stringMatching(/max size 4096/) as string }]);
    const delivered = [...records.filter((_, index) => index !== 6), ...again.slice(1)];
    const target = await reader(server);
    try {
      const mine = (): ForwardedMessage[] => ofDevices(target.messages, devices);
      await expect.poll(() => new Set(mine().map((message) => message.id)).size, { timeout: 30_000, interval: 100 }).toBe(delivered.length);
      expect(mine().some((message) => message.id === records[6]!.id || message.id === again[0]!.id)).toBe(false);
      // The channel RabbitMQ closed took the confirms of the messages before the large one with it; those went
      // again (same message id), so only they may be there twice.
      const counts = new Map<string, number>();
      for (const message of mine()) counts.set(message.id!, (counts.get(message.id!) ?? 0) + 1);
      const twice = [...counts].filter(([, count]) => count > 1).map(([id]) => id);
      const beforeLarge = new Set(records.slice(0, 6).map((record) => record.id));
      expect(twice.every((id) => beforeLarge.has(id) && counts.get(id) === 2)).toBe(true);
      expectPerDeviceOrder(firstOccurrences(mine()), delivered);
    } finally {
      await target.close();
    }
  });

  it('refuses what no queue is bound for (312 NO_ROUTE) and delivers what one is', async () => {
    const exchange = `${server.exchange}.partly-bound`;
    const bound = `${server.exchange}.only-t4-a`;
    const connection = await amqp.connect(server.url);
    try {
      const channel = await connection.createChannel();
      await channel.assertExchange(exchange, 'topic', { durable: true });
      await channel.assertQueue(bound, { durable: true });
      // One device, bound the way the docs say: its escaped id, any metric.
      await channel.bindQueue(bound, exchange, 't4-a%2E1.*');
      const unbound = createRabbitmqSink({ url: server.url, exchange, queueType: 'classic', maxRecords: 100 }, { logger });
      try {
        const records = batchOf(['t4-a.1', 't4-b'], 5);
        const result = await unbound.write(records);
        expect(result.refused.map((refusal) => refusal.index)).toEqual([1, 3, 5, 7, 9]);
        for (const refusal of result.refused) expect(refusal.reason).toMatch(/312 NO_ROUTE/);
        await expect.poll(async () => (await channel.checkQueue(bound)).messageCount, { timeout: 30_000 }).toBe(5);
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const message = await channel.get(bound, { noAck: true });
          if (message) ids.push(message.properties.messageId as string);
        }
        expect(ids).toEqual(records.filter((record) => record.reading.deviceId === 't4-a.1').map((record) => record.id));
      } finally {
        await unbound.close();
      }
    } finally {
      await connection.close();
    }
  });

  it('fails a write in bounded time while the server is down, then delivers on a later write without a new sink', async () => {
    const devices = ['t5-a', 't5-b'];
    const before = batchOf(devices, 20);
    await expect(sink.write(before)).resolves.toEqual({ refused: [] });
    await server.stop();
    const during = batchOf(devices, 20);
    const started = Date.now();
    await expect(sink.write(during)).rejects.toMatchObject({ code: ErrorCodes.SINK_UNAVAILABLE });
    // Bounded by the write's own timeout (15 s here), not by the server coming back.
    expect(Date.now() - started).toBeLessThan(20_000);
    await expect(sink.ping()).resolves.toBe(false);
    expect(sink.health()).toMatchObject({ connected: false, note: expect.stringMatching(/refused|closed|reset/) as string });

    await server.start();
    // As the sink loop does: the whole write again until it goes through.
    await expect
      .poll(async () => sink.write(during).then(() => true, () => false), { timeout: 60_000, interval: 500 })
      .toBe(true);
    await expect(sink.ping()).resolves.toBe(true);
    const target = await reader(server);
    try {
      const all = [...before, ...during];
      await expect.poll(() => new Set(ofDevices(target.messages, devices).map((message) => message.id)).size, { timeout: 30_000 }).toBe(all.length);
      // Nothing lost; a write retried after a failure may repeat messages, with the same message id.
      expectPerDeviceOrder(firstOccurrences(ofDevices(target.messages, devices)), all);
    } finally {
      await target.close();
    }
  }, 180_000);

  it('says so in health() while a resource alarm blocks publishing, and the write times out', async () => {
    const blockedSink = createRabbitmqSink(
      { url: server.url, exchange: server.exchange, queue: server.queue, queueType: 'classic', maxRecords: 100, confirmTimeoutMs: 8_000 },
      { logger },
    );
    try {
      await expect(blockedSink.write(batchOf(['t6-a'], 2))).resolves.toEqual({ refused: [] });
      const alarm = await server.ctl(['set_vm_memory_high_watermark', '0.0000001']);
      expect(alarm.code, alarm.output).toBe(0);
      const written = blockedSink.write(batchOf(['t6-a'], 2));
      written.catch(() => undefined); // awaited below, after health() was looked at
      await expect.poll(() => blockedSink.health(), { timeout: 6_000, interval: 50 }).toEqual({ connected: true, note: expect.stringMatching(/^blocked by a resource alarm/) as string });
      await expect(written).rejects.toMatchObject({ code: ErrorCodes.SINK_UNAVAILABLE, message: expect.stringMatching(/blocked/) as string });
      expect(blockedSink.health()).toMatchObject({ connected: false, note: expect.stringMatching(/^blocked by a resource alarm/) as string });
    } finally {
      const cleared = await server.ctl(['set_vm_memory_high_watermark', '0.4']);
      expect(cleared.code, cleared.output).toBe(0);
      await blockedSink.close();
    }
    await expect.poll(async () => sink.write(batchOf(['t6-b'], 1)).then(() => true, () => false), { timeout: 30_000, interval: 500 }).toBe(true);
  }, 120_000);

  it('reports refused credentials as SINK_UNAUTHORIZED', async () => {
    const url = new URL(server.url);
    url.password = 'wrong';
    const denied = createRabbitmqSink({ url: url.toString(), exchange: server.exchange, queueType: 'classic', maxRecords: 10 }, { logger });
    try {
      await expect(denied.write(batchOf(['t7-a'], 1))).rejects.toMatchObject({ code: ErrorCodes.SINK_UNAUTHORIZED });
      await expect(denied.ping()).resolves.toBe(false);
      expect(denied.health()).toMatchObject({ connected: false, note: expect.stringMatching(/credentials refused/) as string });
    } finally {
      await denied.close();
    }
  });

  it('keeps readings in a stream queue that a consumer replays from its first offset', async () => {
    const stream = `${server.exchange}.stream`;
    const exchange = `${server.exchange}.for-stream`;
    const streamSink = createRabbitmqSink({ url: server.url, exchange, queue: stream, queueType: 'stream', maxRecords: 500 }, { logger });
    const connection = await amqp.connect(server.url);
    try {
      const records = batchOf(['t8-a', 't8-b'], 50);
      await expect(streamSink.write(records)).resolves.toEqual({ refused: [] });
      const replay = async (): Promise<string[]> => {
        const channel = await connection.createChannel();
        const ids: string[] = [];
        await channel.prefetch(100);
        const { consumerTag } = await channel.consume(
          stream,
          (message) => {
            if (!message) return;
            ids.push(message.properties.messageId as string);
            channel.ack(message);
          },
          { arguments: { 'x-stream-offset': 'first' } },
        );
        await expect.poll(() => ids.length, { timeout: 30_000 }).toBe(records.length);
        await channel.cancel(consumerTag);
        await channel.close();
        return ids;
      };
      // Read twice: a stream keeps what was read.
      expect(await replay()).toEqual(records.map((record) => record.id));
      expect(await replay()).toEqual(records.map((record) => record.id));
    } finally {
      await connection.close();
      await streamSink.close();
    }
  });

  it('throws CLOSED after close', async () => {
    const closing = createRabbitmqSink({ url: server.url, exchange: server.exchange, queueType: 'classic', maxRecords: 10 }, { logger });
    await expect(closing.ping()).resolves.toBe(true);
    await closing.close();
    await expect(closing.write(batchOf(['t9-a'], 1))).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await expect(closing.ping()).resolves.toBe(false);
    expect(closing.health().connected).toBe(false);
  });
});
