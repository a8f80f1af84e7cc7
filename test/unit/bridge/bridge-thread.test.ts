import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/logger.js';
import { capturedLogger } from '../../support/logs.js';
import { createMetrics } from '../../../core/metrics.js';
import { telemetryTopic } from '../../../core/topics.js';
import { defaultNormalizeOptions } from '../../../bridge/normalize/index.js';
import { createBridgeThread, type BridgeThreadDeps, type BridgeThreadOptions } from '../../../bridge/bridge-thread.js';
import type { BridgeThreadInput } from '../../../bridge/bridge-protocol.js';
import { Worker } from 'node:worker_threads';

const standIn = new URL('../../support/bridge-thread-stand-in.mjs', import.meta.url);
/** The bridge thread with a stand-in thread instead of the real one (which would open Kafka producers). */
const startStandIn = (input: BridgeThreadInput, deps: Omit<BridgeThreadDeps, 'spawn'>, options?: BridgeThreadOptions) =>
  createBridgeThread(input, { ...deps, spawn: () => new Worker(standIn, { workerData: input }) }, options);


function threadInput(crashes: number, maxInflightRecords = 1000): BridgeThreadInput & { batches: SharedArrayBuffer } {
  const batches = new SharedArrayBuffer(4);
  new Int32Array(batches)[0] = crashes > 0 ? 0 : 1;
  return {
    bridge: { lingerMs: 5, maxBatchRecords: 100, maxInflightRecords, normalize: defaultNormalizeOptions },
    producers: 1,
    logLevel: 'debug',
    batches,
  };
}

const publish = (deviceId: string, payload: string, format?: 'json') => ({
  deviceId,
  topic: telemetryTopic(deviceId),
  payload: Buffer.from(payload),
  receivedAt: 1_700_000_000_000,
  ...(format ? { format } : {}),
});

describe('bridge thread', () => {
  it('hands a turn of publishes over in one batch, payloads intact, and resolves each with its own outcome', async () => {
    const { logger, lines } = capturedLogger();
    const metrics = createMetrics();
    const bridge = await startStandIn(threadInput(0), { logger, metrics });
    try {
      // Pool slices, as the MQTT parser hands them over.
      const outcomes = await Promise.all([bridge.ingest(publish('d1', '{"a":1}')), bridge.ingest(publish('d2', 'xyz', 'json')), bridge.ingest(publish('d3', ''))]);
      expect(outcomes).toEqual([{ readings: 7, rejected: 0 }, { readings: 3, rejected: 0 }, { readings: 0, rejected: 0 }]);
      const batches = lines.filter((l) => l.msg === 'stand-in batch');
      expect(batches).toHaveLength(1);
      expect(batches[0]).toMatchObject({ payloads: '{"a":1}xyz', deviceIds: ['d1', 'd2', 'd3'], formats: [null, 'json', null] });
      // Metric updates from the thread land in the main registry.
      await expect.poll(async () => (await metrics.readingsNormalized.get()).values[0]?.value).toBe(3);
    } finally {
      await bridge.close();
    }
  });

  it('carries each publish its receive stamp into the thread, and stamps one that comes without', async () => {
    const { logger, lines } = capturedLogger();
    const bridge = await startStandIn(threadInput(0), { logger, metrics: createMetrics() });
    try {
      const stamp = 1_700_000_000_000_123_456n;
      await Promise.all([bridge.ingest({ ...publish('d1', '{"a":1}'), receivedAtNs: stamp }), bridge.ingest(publish('d2', '{"a":1}'))]);
      const [batch] = lines.filter((l) => l.msg === 'stand-in batch') as unknown as { receivedAtNss: string[] }[];
      expect(batch!.receivedAtNss[0]).toBe(stamp.toString());
      expect(BigInt(batch!.receivedAtNss[1]!)).toBeGreaterThan(0n);
    } finally {
      await bridge.close();
    }
  });

  it("passes the thread's coded errors on unchanged", async () => {
    const bridge = await startStandIn(threadInput(0), { logger: createLogger('silent'), metrics: createMetrics() });
    try {
      await expect(bridge.ingest(publish('d1', 'reject'))).rejects.toMatchObject({ code: 'KAFKA_REJECTED', retriable: false, message: 'refused by the stand-in' });
    } finally {
      await bridge.close();
    }
  });

  it("keeps the stack and cause of the thread's error, and codes an uncoded one KAFKA_UNAVAILABLE", async () => {
    const bridge = await startStandIn(threadInput(0), { logger: createLogger('silent'), metrics: createMetrics() });
    try {
      const error = (await bridge.ingest(publish('d1', 'lose')).catch((failure: unknown) => failure)) as Error;
      expect(error).toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true, message: 'producer is disconnected', stack: 'KafkaJSError: producer is disconnected\n    at the stand-in' });
      expect(error.cause).toMatchObject({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' });
    } finally {
      await bridge.close();
    }
  });

  it('fails the publishes in hand as retriable when the thread dies, and starts a new thread', async () => {
    const { logger, lines } = capturedLogger();
    const bridge = await startStandIn(threadInput(1), { logger, metrics: createMetrics() }, { restartDelayMs: 10 });
    try {
      await expect(bridge.ingest(publish('d1', 'lost'))).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true });
      expect(lines.some((l) => l.exitCode === 3 && String(l.msg).startsWith('bridge thread exited'))).toBe(true);
      // Until the new thread is ready, publishes fail at once (the gateway closes the connection, the device resends).
      await expect.poll(() => bridge.ingest(publish('d1', 'again')).then((o) => o.readings, () => 'failed'), { timeout: 5000 }).toBe(5);
    } finally {
      await bridge.close();
    }
  });

  it('is saturated while the cap of unsettled publishes is handed over', async () => {
    const bridge = await startStandIn(threadInput(0, 2), { logger: createLogger('silent'), metrics: createMetrics() });
    try {
      expect(bridge.saturated()).toBe(false);
      const first = bridge.ingest(publish('d1', 'a'));
      expect(bridge.saturated()).toBe(false);
      const second = bridge.ingest(publish('d2', 'b'));
      expect(bridge.saturated()).toBe(true);
      await Promise.all([first, second]);
      expect(bridge.saturated()).toBe(false);
    } finally {
      await bridge.close();
    }
  });

  it('refuses publishes after close', async () => {
    const bridge = await startStandIn(threadInput(0), { logger: createLogger('silent'), metrics: createMetrics() });
    await bridge.close();
    await expect(bridge.ingest(publish('d1', 'x'))).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(bridge.publishEvent({ deviceId: 'd1', type: 'online', reason: 'connected', ts: 1 })).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
