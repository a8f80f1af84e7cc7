import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedBus } from '../../../core/streams/embedded.js';
import { partitionForKey } from '../../../core/murmur2.js';
import type { RecordBatch, StreamAssignment, StreamBus } from '../../../core/seams.js';

let bus: StreamBus | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
});

const records = (key: string, count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => ({ key, value: JSON.stringify({ n: from + i }) }));

function collect(batches: RecordBatch[]): { key: string; n: number; partition: number }[] {
  return batches.flatMap((b) => b.records.map((r) => ({ key: r.key, n: (JSON.parse(r.value.toString()) as { n: number }).n, partition: r.partition })));
}

describe('embedded bus', () => {
  it('puts a key in its murmur2 partition and keeps per-key order', async () => {
    bus = createEmbeddedBus({ partitions: 4 });
    const producer = await bus.createProducer();
    await producer.send('telemetry', [...records('a', 50), ...records('b', 50)]);
    const seen: RecordBatch[] = [];
    const consumer = bus.createConsumer({ groupId: 'g', streams: ['telemetry'], from: 'earliest' });
    await consumer.run(async (batch) => void seen.push(batch));
    await expect.poll(() => collect(seen).length).toBe(100);
    const got = collect(seen);
    for (const key of ['a', 'b']) {
      const mine = got.filter((r) => r.key === key);
      expect(mine.map((r) => r.n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(new Set(mine.map((r) => r.partition))).toEqual(new Set([partitionForKey(key, 4)]));
    }
  });

  it('delivers a batch again when its handler fails, and commits after success', async () => {
    bus = createEmbeddedBus({ partitions: 1, retryDelayMs: 1 });
    const producer = await bus.createProducer();
    await producer.send('telemetry', records('a', 3));
    let failures = 2;
    const delivered: number[][] = [];
    const consumer = bus.createConsumer({ groupId: 'g', streams: ['telemetry'], from: 'earliest' });
    await consumer.run(async (batch) => {
      delivered.push(collect([batch]).map((r) => r.n));
      if (failures-- > 0) throw new Error('store down');
    });
    await expect.poll(() => delivered.length).toBe(3);
    expect(delivered).toEqual([[0, 1, 2], [0, 1, 2], [0, 1, 2]]);
    await consumer.close();
    // A new member of the same group starts after the committed offset: nothing is delivered twice.
    const again: RecordBatch[] = [];
    const next = bus.createConsumer({ groupId: 'g', streams: ['telemetry'], from: 'earliest' });
    await next.run(async (batch) => void again.push(batch));
    await producer.send('telemetry', records('a', 1, 3));
    await expect.poll(() => collect(again).map((r) => r.n)).toEqual([3]);
  });

  it('splits partitions between members of one group, and every record is handled once', async () => {
    bus = createEmbeddedBus({ partitions: 6 });
    const producer = await bus.createProducer();
    const one: RecordBatch[] = [];
    const two: RecordBatch[] = [];
    await bus.createConsumer({ groupId: 'g', streams: ['telemetry'], from: 'earliest' }).run(async (b) => void one.push(b));
    await bus.createConsumer({ groupId: 'g', streams: ['telemetry'], from: 'earliest' }).run(async (b) => void two.push(b));
    for (let d = 0; d < 30; d++) await producer.send('telemetry', records(`d${d}`, 10));
    await expect.poll(() => collect(one).length + collect(two).length).toBe(300);
    expect(collect(one).length).toBeGreaterThan(0);
    expect(collect(two).length).toBeGreaterThan(0);
    const partitionsOne = new Set(one.map((b) => b.partition));
    for (const b of two) expect(partitionsOne.has(b.partition)).toBe(false);
  });

  it('tells each group member its assignment after every rebalance, including a member standing by', async () => {
    bus = createEmbeddedBus({ partitions: 2 });
    const reported: StreamAssignment[][] = [[], [], []];
    const consumers = reported.map((into) => bus!.createConsumer({ groupId: 'g', streams: ['telemetry'], from: 'earliest', onAssignment: (a) => void into.push(a) }));
    await consumers[0]!.run(async () => undefined);
    expect(consumers[0]!.assignment()).toEqual({ groupId: 'g', streams: [{ stream: 'telemetry', topic: 'telemetry', partitions: 2, assigned: [0, 1], unread: [] }], members: 1, foreignTopics: [] });
    await consumers[1]!.run(async () => undefined);
    await consumers[2]!.run(async () => undefined);
    const held = consumers.map((c) => c.assignment()!.streams[0]!.assigned);
    expect(held.flat().sort()).toEqual([0, 1]);
    expect(held.filter((partitions) => partitions.length === 0)).toHaveLength(1);
    for (const consumer of consumers) expect(consumer.assignment()).toMatchObject({ members: 3, foreignTopics: [], streams: [{ unread: [] }] });
    expect(reported[0]).toHaveLength(3);
    await consumers[2]!.close();
    expect(consumers[0]!.assignment()!.members).toBe(2);
    expect(bus.createConsumer({ streams: ['telemetry'], from: 'earliest' }).assignment()).toBeUndefined();
  });

  it('a group-less reader from "latest" sees only new records', async () => {
    bus = createEmbeddedBus({ partitions: 2 });
    const producer = await bus.createProducer();
    await producer.send('events', records('a', 5));
    const seen: RecordBatch[] = [];
    await bus.createConsumer({ streams: ['events'], from: 'latest' }).run(async (b) => void seen.push(b));
    await producer.send('events', records('a', 2, 100));
    await expect.poll(() => collect(seen).map((r) => r.n)).toEqual([100, 101]);
  });

  it('makes a producer wait when a partition is full and no group has consumed it', async () => {
    bus = createEmbeddedBus({ partitions: 1, maxRecordsPerPartition: 10 });
    const producer = await bus.createProducer();
    const consumer = bus.createConsumer({ groupId: 'slow', streams: ['telemetry'], from: 'earliest' });
    await producer.send('telemetry', records('a', 10));
    let sent = false;
    const blocked = producer.send('telemetry', records('a', 1, 10)).then(() => (sent = true));
    // Let every pending callback and I/O turn run: only a commit by a consumer can let the send through.
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toBe(false);
    const seen: RecordBatch[] = [];
    await consumer.run(async (b) => void seen.push(b));
    await blocked;
    await expect.poll(() => collect(seen).length).toBe(11);
  });

  it('trims a stream no group reads instead of making its producers wait for good', async () => {
    bus = createEmbeddedBus({ partitions: 1, maxRecordsPerPartition: 10 });
    const producer = await bus.createProducer();
    // The writer's group reads telemetry only; the events stream must not fill up behind it.
    const writer = bus.createConsumer({ groupId: 'writer', streams: ['telemetry'], from: 'earliest' });
    await writer.run(async () => undefined);
    let sent = 0;
    const sending = (async () => {
      for (let i = 0; i < 5; i++) {
        await producer.send('events', records('a', 10, i * 10));
        sent += 10;
      }
    })();
    await expect.poll(() => sent, { timeout: 2000 }).toBe(50);
    await sending;
    const kept: number[] = [];
    await bus.readPartitions('events', [0], (batch) => void kept.push(...batch.map((r) => (JSON.parse(r.value.toString()) as { n: number }).n)));
    expect(kept.at(-1)).toBe(49);
    expect(kept.length).toBeLessThanOrEqual(10);
  });

  it('gives partition N of every stream to the same group member', async () => {
    bus = createEmbeddedBus({ partitions: 4 });
    const assignments: StreamAssignment[][] = [[], []];
    const members = [0, 1].map((m) =>
      bus!.createConsumer({ groupId: 'rules', streams: ['telemetry', 'events', 'deadletter'], from: 'earliest', onAssignment: (a) => void assignments[m]!.push(a) }),
    );
    for (const member of members) await member.run(async () => undefined);
    const latest = assignments.map((list) => list.at(-1)!);
    for (const assignment of latest) {
      const [telemetry, ...others] = assignment.streams.map((s) => s.assigned);
      expect(telemetry!.length).toBe(2);
      for (const other of others) expect(other).toEqual(telemetry);
    }
    expect([...latest[0]!.streams[0]!.assigned, ...latest[1]!.streams[0]!.assigned].sort()).toEqual([0, 1, 2, 3]);
  });

  it('reads partitions of a stream once, up to their end at the call', async () => {
    bus = createEmbeddedBus({ partitions: 2 });
    const producer = await bus.createProducer();
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const key of keys) await producer.send('rules-state', records(key, 2));
    const wanted = keys.filter((key) => partitionForKey(key, 2) === 1);
    const read: string[] = [];
    await bus.readPartitions('rules-state', [1], (batch) => void read.push(...batch.map((r) => r.key)));
    expect(new Set(read)).toEqual(new Set(wanted));
    expect(read.length).toBe(wanted.length * 2);
  });
});
