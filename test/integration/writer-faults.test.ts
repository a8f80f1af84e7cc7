import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createKafkaBus } from '../../core/streams/kafka.js';
import { createMetrics } from '../../core/metrics.js';
import { createLogger } from '../../core/logger.js';
import { createWriter } from '../../consumers/writer.js';
import type { Writer } from '../../core/seams.js';
import { createInfluxStore } from '../../consumers/stores/influx.js';
import type { Reading } from '../../core/reading.js';
import type { StreamBus, StreamProducer } from '../../core/seams.js';
import { startPrivateVictoria, type PrivateVictoria } from '../support/victoria.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { exportSeries } from '../support/store.js';
import { readTopic } from '../support/kafka.js';
import { timeNsOfMs } from '../../core/reading.js';

const kafkaBrokers = inject('kafkaBrokers');
const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent', { pretty: false });
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const baseTs = Date.now() - 3_600_000;
let testIndex = 0;

describe('writer when the store refuses, throttles or rejects the token', () => {
  let vm: PrivateVictoria;
  let proxy: FaultProxy;
  let bus: StreamBus;
  let producer: StreamProducer;
  let writer: Writer;
  let prefix: string;
  let metrics: ReturnType<typeof createMetrics>;

  beforeAll(async () => {
    vm = await startPrivateVictoria({ dedup: true });
    proxy = await startFaultProxy(vm.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await vm?.destroy();
  });

  beforeEach(async () => {
    prefix = `wf${runId}x${testIndex++}`;
    bus = createKafkaBus({ brokers: kafkaBrokers.split(','), clientId: `wf-${prefix}`, topicPrefix: prefix, partitions: 1, replicationFactor: 1, logger });
    await bus.ensureStreams();
    producer = await bus.createProducer();
    metrics = createMetrics();
    writer = createWriter(
      { groupId: `wf-${prefix}`, concurrency: 1, batchSize: 1000, flushMs: 50, retryDelayMs: 50, maxRetryDelayMs: 200, unauthorizedRetryMs: 200 },
      { bus, store: createInfluxStore({ url: proxy.url, token: 't', org: 'o', bucket: 'b' }), deadLetters: producer, logger, metrics },
    );
  });
  afterEach(async () => {
    proxy.setRule(() => 'forward');
    await writer.close();
    await producer.close();
    await bus.close();
  });

  const reading = (deviceId: string, seq: number): Reading => ({ deviceId, metric: 'fv', value: seq, ts: baseTs + seq, timeNs: timeNsOfMs(baseTs + seq), receivedAt: Date.now() });
  const send = (readings: Reading[]) => producer.send('telemetry', readings.map((r) => ({ key: r.deviceId, value: JSON.stringify(r) })));
  const stored = async (device: string) => (await exportSeries(vm.url, `fv_value{device="${device}"}`)).flatMap((s) => s.values).sort((a, b) => a - b);

  it('dead-letters exactly the refused reading with the store message and stores the rest of the batch', async () => {
    const device = `ref-${prefix}`;
    const badSeq = 7;
    // InfluxDB writes the good points of a batch and answers 400 naming the bad one.
    proxy.setRule((lines) => {
      const bad = lines.filter((l) => l.includes(`value=${badSeq} `));
      if (bad.length === 0) return 'forward';
      return {
        status: 400,
        forwardLines: lines.filter((l) => !bad.includes(l)),
        body: JSON.stringify({ code: 'invalid', message: `partial write: field type conflict: input field "value" on measurement "fv" is type float, already exists as type string dropped=${bad.length}` }),
      };
    });
    await writer.start();
    await send(Array.from({ length: 20 }, (_, i) => reading(device, i)));

    const records = await readTopic(kafkaBrokers, `${prefix}.deadletter`, (rs) => rs.length >= 1);
    expect(records).toHaveLength(1);
    const letter = JSON.parse(records[0]!.value) as { deviceId: string; code: string; reason: string; payload: string };
    expect(letter).toMatchObject({ deviceId: device, code: 'STORE_REJECTED' });
    expect(letter.reason).toContain('field type conflict');
    expect(JSON.parse(Buffer.from(letter.payload, 'base64').toString())).toMatchObject({ value: badSeq });
    await expect.poll(() => stored(device), { timeout: 15_000 }).toEqual(Array.from({ length: 20 }, (_, i) => i).filter((i) => i !== badSeq));
  });

  it('waits out a 429 for the Retry-After seconds, then stores everything', async () => {
    const device = `thr-${prefix}`;
    let throttled = 0;
    proxy.setRule(() => (throttled++ < 2 ? { status: 429, headers: { 'retry-after': '1' }, body: '{"message":"slow down"}' } : 'forward'));
    await writer.start();
    const started = Date.now();
    await send(Array.from({ length: 10 }, (_, i) => reading(device, i)));
    await expect.poll(() => stored(device), { timeout: 15_000 }).toHaveLength(10);
    // Two refusals of one second each: the library would have read "1" as one millisecond.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(throttled).toBeGreaterThanOrEqual(3);
  });

  it('turns unready on 401, keeps retrying, and stores everything once the token is accepted', async () => {
    const device = `auth-${prefix}`;
    proxy.setRule(() => ({ status: 401, body: '{"code":"unauthorized","message":"unauthorized access"}' }));
    await writer.start();
    await send([reading(device, 1), reading(device, 2)]);
    await expect.poll(() => writer.status().state, { timeout: 10_000 }).toBe('unauthorized');
    expect(writer.status().lastError).toContain('INFLUX_TOKEN');
    proxy.setRule(() => 'forward');
    await expect.poll(() => stored(device), { timeout: 15_000 }).toEqual([1, 2]);
    expect(writer.status().state).toBe('writing');
  });
});
