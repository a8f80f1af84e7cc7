/**
 * Baselines measured in the same bench run: the same load through Mosquitto (publish QoS 1 → one subscriber),
 * and raw kafkajs producing of the same records with the producer settings the bridge uses.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as hdr from 'hdr-histogram-js';
import { msOfNs, processClock } from '../core/precise-clock.js';
import type { Reading } from '../core/reading.js';
import { encodeReading } from '../core/records.js';
import { Kafka, logLevel, CompressionTypes, Partitioners } from '../core/streams/kafkajs.js';
import { runLoad } from './load.js';
import { startMosquitto } from './processes.js';
import { benchDeviceId, benchPayload, sequenceValue } from './payload.js';

export interface MosquittoBaseline {
  perSec: number;
  sent: number;
  acked: number;
  delivered: number;
  ackP50: number;
  ackP99: number;
  deliveryP50: number;
  deliveryP99: number;
}

export interface KafkaBaseline {
  perSec: number;
  records: number;
  seconds: number;
  batchRecords: number;
}

export interface BaselineLoad {
  devices: number;
  rate: number;
  durationS: number;
  payloadBytes: number;
  workers: number;
  runId: string;
  messagesPerDevice: number;
  maxInflightPerDevice: number;
  warmupMs: number;
}

export async function mosquittoBaseline(load: BaselineLoad, log: (line: string) => void): Promise<MosquittoBaseline> {
  const broker = await startMosquitto();
  const delivery = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  let delivered = 0;
  let lastDeliveredAt = 0;
  let measureFrom = Number.POSITIVE_INFINITY;
  const subscriber = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-i', `bench-sub-${load.runId}`, '-t', 'devices/+/telemetry'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const subscribed = new Promise<void>((resolve) => setTimeout(resolve, 500));
    createInterface({ input: subscriber.stdout! }).on('line', (line) => {
      const now = Date.now();
      delivered++;
      lastDeliveredAt = now;
      const match = /"ts":(\d+)/.exec(line);
      if (match && Number(match[1]) >= measureFrom) delivery.recordValue(Math.max(1, now - Number(match[1])));
    });
    await subscribed;
    log(`baseline mosquitto: ${load.devices} devices on port ${broker.port}`);
    const devices = Array.from({ length: load.devices }, (_, index) => ({ index, id: benchDeviceId(index), secret: '' }));
    const result = await runLoad({
      host: '127.0.0.1',
      port: broker.port,
      devices,
      rate: load.rate,
      durationS: load.durationS,
      qos: 1,
      runId: load.runId,
      payloadBytes: load.payloadBytes,
      messagesPerDevice: load.messagesPerDevice,
      connectConcurrency: 200,
      maxInflightPerDevice: load.maxInflightPerDevice,
      drainMs: 30_000,
      anonymous: true,
      workers: load.workers,
      warmupMs: load.warmupMs,
      onConnected: ({ startAt }) => (measureFrom = startAt + load.warmupMs),
    });
    const deadline = Date.now() + 30_000;
    let last = -1;
    let stableSince = Date.now();
    while (delivered < result.acked && Date.now() < deadline) {
      if (delivered !== last) {
        last = delivered;
        stableSince = Date.now();
      } else if (Date.now() - stableSince > 5000) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = Math.max(0.001, (lastDeliveredAt - result.firstSendAt) / 1000);
    return {
      perSec: delivered / seconds,
      sent: result.sent,
      acked: result.acked,
      delivered,
      ackP50: result.ackHistogram.getValueAtPercentile(50) / 1000,
      ackP99: result.ackHistogram.getValueAtPercentile(99) / 1000,
      deliveryP50: delivery.getValueAtPercentile(50),
      deliveryP99: delivery.getValueAtPercentile(99),
    };
  } finally {
    subscriber.kill('SIGTERM');
    await broker.stop();
  }
}

/**
 * The records the bridge would produce for the same load (core/records.ts encodeReading), sent with the
 * bridge's producer settings (idempotent, acks = all, one request in flight, batches of `batchRecords`) as fast
 * as Kafka takes them, for at most `durationS` seconds.
 */
export async function kafkaBaseline(brokers: string[], load: BaselineLoad, batchRecords: number, partitions: number, log: (line: string) => void): Promise<KafkaBaseline> {
  const kafka = new Kafka({ clientId: `sluice-bench-${load.runId}`, brokers, logLevel: logLevel.NOTHING });
  const topic = `bench${load.runId}.baseline`;
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
    await producer.connect();
    const total = load.devices * Math.floor(load.rate * load.durationS);
    log(`baseline kafka: up to ${total} records to ${topic}`);
    const started = performance.now();
    const deadline = started + load.durationS * 1000;
    let produced = 0;
    let message = 0;
    // The same tag padding a bench payload carries, so record sizes match what the bridge produces.
    const pad = /"pad":"(x*)"/.exec(benchPayload(load.runId, sequenceValue(0, 0), Date.now(), load.payloadBytes))?.[1] ?? '';
    while (produced < total && performance.now() < deadline) {
      const messages = [];
      for (let i = 0; i < batchRecords && produced + i < total; i++) {
        const index = (produced + i) % load.devices;
        const deviceId = benchDeviceId(index);
        const now = Date.now();
        // Stamped as the gateway stamps a publish, so the baseline's records have the same shape and identity.
        const stamp = processClock.next(1);
        const reading: Reading = {
          deviceId,
          metric: 'bench_seq',
          value: sequenceValue(index, message),
          ts: msOfNs(stamp),
          timeNs: stamp.toString(),
          receivedAt: now,
          tags: { run: load.runId, pad },
        };
        if (index === load.devices - 1) message++;
        const record = encodeReading(reading);
        messages.push({ key: record.key, value: record.value, timestamp: String(record.timestamp) });
      }
      await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1, compression: CompressionTypes.None });
      produced += messages.length;
    }
    const seconds = (performance.now() - started) / 1000;
    return { perSec: produced / seconds, records: produced, seconds, batchRecords };
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}
