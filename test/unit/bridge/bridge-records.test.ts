import { describe, expect, it } from 'vitest';
import { createBridge } from '../../../bridge/bridge.js';
import { defaultNormalizeOptions } from '../../../bridge/normalize/index.js';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import type { DeviceEvent } from '../../../core/reading.js';
import type { OutgoingRecord, StreamName, StreamProducer } from '../../../core/seams.js';
import { telemetryTopic } from '../../../core/topics.js';

const RECEIVED_AT = 1_732_492_800_456;

function capturingBridge() {
  const sent: { stream: StreamName; records: OutgoingRecord[] }[] = [];
  const producer: StreamProducer = {
    send: async (stream, records) => void sent.push({ stream, records }),
    sendBatch: async (batches) => void sent.push(...batches),
    close: async () => undefined,
  };
  const bridge = createBridge(
    { lingerMs: 1, maxBatchRecords: 100, maxInflightRecords: 100, normalize: defaultNormalizeOptions },
    { producers: [producer], logger: createLogger('silent'), metrics: createMetrics() },
  );
  const of = (stream: StreamName) => sent.filter((b) => b.stream === stream).flatMap((b) => b.records);
  return { bridge, of };
}

/** The bytes the bridge wrote before the record format moved to core/records.ts (docs/contracts.md §6 Kafka topics). */
describe('bridge records', () => {
  it('a publish with a good and a bad part: one telemetry record and one dead letter with the whole payload', async () => {
    const { bridge, of } = capturingBridge();
    const payload = '{"readings":[{"metric":"temperature","value":21.5,"unit":"Cel","ts":1732492800123,"tags":{"room":"lab"}},{"metric":"bad name","value":1}]}';
    await bridge.ingest({ deviceId: 'd1', topic: telemetryTopic('d1'), payload: Buffer.from(payload), receivedAt: RECEIVED_AT });
    await bridge.close();
    expect(of('telemetry')).toStrictEqual([
      {
        key: 'd1',
        value: '{"deviceId":"d1","metric":"temperature","value":21.5,"unit":"Cel","ts":1732492800123,"timeNs":"1732492800123000000","receivedAt":1732492800456,"tags":{"room":"lab"}}',
        timestamp: RECEIVED_AT,
      },
    ]);
    const [letter] = of('deadletter');
    expect(of('deadletter')).toHaveLength(1);
    expect(letter).toMatchObject({ key: 'd1', timestamp: RECEIVED_AT });
    const reason = (JSON.parse(letter!.value) as { reason: string }).reason;
    expect(letter!.value).toBe(
      `{"deviceId":"d1","code":"INVALID_METRIC_NAME","reason":${JSON.stringify(reason)},"topic":"devices/d1/telemetry","payload":"${Buffer.from(payload).toString('base64')}","payloadBytes":${payload.length},"receivedAt":1732492800456}`,
    );
  });

  it('a payload too large to keep whole: its start in the dead letter, marked truncated', async () => {
    const { bridge, of } = capturingBridge();
    await bridge.ingest({ deviceId: 'd1', topic: telemetryTopic('d1'), payload: Buffer.alloc(70_000, 'a'), receivedAt: RECEIVED_AT });
    await bridge.close();
    const letter = JSON.parse(of('deadletter')[0]!.value) as Record<string, unknown>;
    expect(Object.keys(letter)).toStrictEqual(['deviceId', 'code', 'reason', 'topic', 'payload', 'payloadBytes', 'payloadTruncated', 'receivedAt']);
    expect(letter).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', payload: Buffer.alloc(64 * 1024, 'a').toString('base64'), payloadBytes: 70_000, payloadTruncated: true });
  });

  it('a device event: key = device id, the event as JSON, timestamp = the event time', async () => {
    const { bridge, of } = capturingBridge();
    const event: DeviceEvent = { deviceId: 'd1', type: 'refused', reason: 'payload-too-large', detail: 'x', ts: 1_732_492_801_000, remoteAddress: '127.0.0.1' };
    await bridge.publishEvent(event);
    await bridge.close();
    expect(of('events')).toStrictEqual([
      {
        key: 'd1',
        value: '{"deviceId":"d1","type":"refused","reason":"payload-too-large","detail":"x","ts":1732492801000,"remoteAddress":"127.0.0.1"}',
        timestamp: 1_732_492_801_000,
      },
    ]);
  });
});
