import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Kafka, logLevel, Partitioners, type Producer } from '../support/kafka.js';
import { createKafkaBus } from '../../core/streams/kafka.js';
import { createMetrics } from '../../core/metrics.js';
import { createLogger } from '../../core/logger.js';
import { createWriter } from '../../consumers/writer.js';
import { consumerGroupId } from '../../core/streams/connection.js';
import { createInfluxStore } from '../../consumers/stores/influx.js';
import type { Reading } from '../../core/reading.js';
import { startPrivateVictoria, type PrivateVictoria } from '../support/victoria.js';
import { exportSeries } from '../support/store.js';
import { paced } from '../support/wait.js';
import { startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { timeNsOfMs } from '../../core/reading.js';

const kafkaBrokers = inject('kafkaBrokers');
const logger = createLogger('silent');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const baseTs = Date.now() - 3_600_000;

async function createTopicProducer(prefix: string, partitions: number): Promise<Producer> {
  const bus = createKafkaBus({ brokers: kafkaBrokers.split(','), clientId: `t-${prefix}`, topicPrefix: prefix, partitions, replicationFactor: 1, logger });
  await bus.ensureStreams();
  await bus.close();
  const producer = new Kafka({ clientId: `t-${prefix}`, brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING }).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return producer;
}

/** Readings with a unique sequence number as value and as time offset, so each can be found again. */
function readingsFor(devicePrefix: string, from: number, count: number, devices: number): Reading[] {
  return Array.from({ length: count }, (_, i) => {
    const seq = from + i;
    return { deviceId: `${devicePrefix}${seq % devices}`, metric: 'seq', value: seq, ts: baseTs + seq, timeNs: timeNsOfMs(baseTs + seq), receivedAt: Date.now() };
  });
}

/**
 * In requests of 2,000 records, as the bridge sends them (BRIDGE_MAX_BATCH_RECORDS): 20,000 in one request put a
 * partition's share over the broker's 1 MB message limit whenever the run's device names hashed unevenly.
 */
async function produce(producer: Producer, prefix: string, readings: Reading[]): Promise<void> {
  for (let from = 0; from < readings.length; from += 2000) {
    const messages = readings.slice(from, from + 2000).map((r) => ({ key: r.deviceId, value: JSON.stringify(r) }));
    await producer.send({ topic: `${prefix}.telemetry`, acks: -1, messages });
  }
}

async function storedSeqs(url: string, devicePrefix: string): Promise<number[]> {
  const series = await exportSeries(url, `seq_value{device=~"${devicePrefix}.*"}`);
  return series.flatMap((s) => s.values).sort((a, b) => a - b);
}

async function expectStoredExactly(url: string, devicePrefix: string, total: number, timeout = 60_000): Promise<void> {
  await expect.poll(async () => (await storedSeqs(url, devicePrefix)).length, { timeout, interval: 500 }).toBe(total);
  expect(await storedSeqs(url, devicePrefix)).toEqual(Array.from({ length: total }, (_, i) => i));
}

describe('writer against a real store', () => {
  let vm: PrivateVictoria;
  beforeAll(async () => {
    // Dedup on: the store keeps one point per series and timestamp, as InfluxDB does.
    vm = await startPrivateVictoria({ dedup: true });
  });
  afterAll(async () => {
    await vm?.destroy();
  });

  it('stores every reading exactly once across a 20-second store outage in a steady stream', async () => {
    const prefix = `wout${runId}`;
    const devicePrefix = `wo-${runId}-`;
    const producer = await createTopicProducer(prefix, 3);
    const bus = createKafkaBus({ brokers: kafkaBrokers.split(','), clientId: `w-${prefix}`, topicPrefix: prefix, partitions: 3, replicationFactor: 1, logger });
    const deadLetters = await bus.createProducer();
    const metrics = createMetrics();
    const writer = createWriter(
      { groupId: `w-${prefix}`, concurrency: 3, batchSize: 500, flushMs: 100, retryDelayMs: 100, maxRetryDelayMs: 1000 },
      { bus, store: createInfluxStore({ url: vm.url, token: '', org: 'o', bucket: 'b' }), deadLetters, logger, metrics },
    );
    await writer.start();
    const states = new Set<string>();
    const sampler = setInterval(() => states.add(writer.status().state), 50);
    try {
      let sent = 0;
      const sendSlice = async (count: number) => {
        await produce(producer, prefix, readingsFor(devicePrefix, sent, count, 20));
        sent += count;
      };
      // 50 readings every 100 ms: a steady 500 readings/s for as long as the scenario phase lasts.
      const streamFor = async (ms: number) => {
        const until = Date.now() + ms;
        await paced(100, () => Date.now() < until, () => sendSlice(50));
      };
      await streamFor(3000);
      await vm.stop();
      await streamFor(20_000);
      await vm.start();
      await streamFor(3000);

      await expectStoredExactly(vm.url, devicePrefix, sent);
      expect(states.has('retrying')).toBe(true);
      await expect.poll(() => writer.status().state).toBe('writing');
      expect(await metrics.registry.getSingleMetricAsString('sluice_store_retries_total')).toMatch(/sluice_store_retries_total [1-9]/);
    } finally {
      clearInterval(sampler);
      await writer.close();
      await deadLetters.close();
      await bus.close();
      await producer.disconnect();
    }
  });

  describe('writer processes', () => {
    const startWriter = async (prefix: string): Promise<SluiceProcess> =>
      startSluiceProcess(
        {
          DATA_DIR: await tempDataDir(),
          KAFKA_BROKERS: kafkaBrokers,
          INFLUX_URL: vm.url,
          KAFKA_TOPIC_PREFIX: prefix,
          KAFKA_CLIENT_ID: `wp-${prefix}`,
          KAFKA_PARTITIONS: '6',
          WRITER_BATCH_SIZE: '200',
        },
        { args: ['--roles', 'writer'] },
      );

    it('a writer killed in the middle of a stream is replaced by another, and every reading is stored once', async () => {
      const prefix = `wkill${runId}`;
      const devicePrefix = `wk-${runId}-`;
      const producer = await createTopicProducer(prefix, 6);
      const first = await startWriter(prefix);
      const total = 20_000;
      try {
        // Half the stream first, so however fast this machine stores it, the kill lands before the stream's end.
        await produce(producer, prefix, readingsFor(devicePrefix, 0, total / 2, 50));
        // Kill once some readings are stored: the writer is mid-stream with batches in flight.
        await expect.poll(async () => (await storedSeqs(vm.url, devicePrefix)).length, { timeout: 30_000, interval: 50 }).toBeGreaterThan(0);
        expect(await first.stop('SIGKILL')).toBeNull();
        await produce(producer, prefix, readingsFor(devicePrefix, total / 2, total / 2, 50));
        expect((await storedSeqs(vm.url, devicePrefix)).length).toBeLessThan(total);
        const second = await startWriter(prefix);
        try {
          await expectStoredExactly(vm.url, devicePrefix, total);
        } finally {
          expect(await second.stop()).toBe(0);
        }
      } finally {
        await first.stop('SIGKILL');
        await producer.disconnect();
      }
    });

    it('two writers in one group split the partitions and together store everything once', async () => {
      const prefix = `wtwo${runId}`;
      const devicePrefix = `w2-${runId}-`;
      const producer = await createTopicProducer(prefix, 6);
      const writers = [await startWriter(prefix), await startWriter(prefix)];
      const groupId = consumerGroupId({ KAFKA_CLIENT_ID: `wp-${prefix}`, KAFKA_TOPIC_PREFIX: prefix }, 'writer');
      const admin = new Kafka({ clientId: 'assert', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        // Both members must have joined before the data arrives, so that both take a share of it.
        await expect
          .poll(async () => (await admin.describeGroups([groupId])).groups[0]?.members.length, { timeout: 30_000 })
          .toBe(2);
        const group = (await admin.describeGroups([groupId])).groups[0]!;
        expect(group.state).toBe('Stable');
        await produce(producer, prefix, readingsFor(devicePrefix, 0, 6000, 60));
        await expectStoredExactly(vm.url, devicePrefix, 6000);
        // Each member owns part of the partitions: committed offsets exist for all six (commits are coalesced,
        // at most a second apart).
        const committedPartitions = async () => {
          const offsets = await admin.fetchOffsets({ groupId, topics: [`${prefix}.telemetry`] });
          return offsets[0]!.partitions.filter((p) => Number(p.offset) > 0).length;
        };
        await expect.poll(committedPartitions, { timeout: 10_000, interval: 200 }).toBe(6);
      } finally {
        await admin.disconnect();
        for (const writer of writers) expect(await writer.stop()).toBe(0);
        await producer.disconnect();
      }
    });
  });
});
