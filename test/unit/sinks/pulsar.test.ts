import { describe, expect, it } from 'vitest';
import { isSluiceError } from '../../../core/errors.js';
import { createLogger } from '../../../core/logger.js';
import type { Reading } from '../../../core/reading.js';
import { encodeReading, readingIdOf } from '../../../core/records.js';
import {
  createPulsarSink,
  describeConnectFailure,
  batchTooLarge,
  isPermanentSendError,
  parsePulsarTopic,
  producerFrame,
  PULSAR_MAX_FRAME_BYTES,
  pulsarProducerUrl,
} from '../../../consumers/sinks/pulsar.js';

const reading: Reading = { deviceId: 'dev-1', metric: 'temp', value: 21.5, ts: 1_700_000_000_000, timeNs: '1700000000000000000', receivedAt: 1_700_000_000_001 };
const record = { reading, json: Buffer.from(String(encodeReading(reading).value)), id: readingIdOf(reading) };

describe('pulsar topic and producer address', () => {
  it('splits persistent and non-persistent topics', () => {
    expect(parsePulsarTopic('persistent://public/default/sluice.telemetry')).toEqual({ domain: 'persistent', tenant: 'public', namespace: 'default', name: 'sluice.telemetry' });
    expect(parsePulsarTopic('non-persistent://t/ns/x').domain).toBe('non-persistent');
  });

  it.each(['sluice.telemetry', 'persistent://public/default', 'kafka://a/b/c', 'persistent://a/b/c/d'])('refuses the topic %s as CONFIG_INVALID', (topic) => {
    expect(() => parsePulsarTopic(topic)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it.each([
    ['http://127.0.0.1:8080', 'ws://127.0.0.1:8080/ws/v2/producer/persistent/public/default/p.telemetry?sendTimeoutMillis=28000&batchingEnabled=true&batchingMaxMessages=1000&batchingMaxPublishDelay=5'],
    ['https://pulsar.example:8443/', 'wss://pulsar.example:8443/ws/v2/producer/persistent/public/default/p.telemetry?sendTimeoutMillis=28000&batchingEnabled=true&batchingMaxMessages=1000&batchingMaxPublishDelay=5'],
    ['http://proxy/base', 'ws://proxy/base/ws/v2/producer/persistent/public/default/p.telemetry?sendTimeoutMillis=28000&batchingEnabled=true&batchingMaxMessages=1000&batchingMaxPublishDelay=5'],
  ])('maps %s onto the WebSocket producer API', (url, expected) => {
    expect(pulsarProducerUrl(url, 'persistent://public/default/p.telemetry', { sendTimeoutMs: 28_000 })).toBe(expected);
  });

  it('refuses a url that is not the web service', () => {
    expect(() => pulsarProducerUrl('pulsar://127.0.0.1:6650', 'persistent://a/b/c', { sendTimeoutMs: 1000 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('pulsar producer frame', () => {
  it('carries the JSON as base64, the device as key, the reading id as property and the context', () => {
    const frame = JSON.parse(producerFrame(record, '42')) as { payload: string; key: string; properties: Record<string, string>; context: string };
    expect(Buffer.from(frame.payload, 'base64').equals(record.json)).toBe(true);
    expect(frame).toMatchObject({ key: 'dev-1', properties: { id: record.id }, context: '42' });
  });
});

describe('pulsar send errors', () => {
  it.each([
    [{ result: 'send-error:8', errorMsg: 'org.apache.pulsar.client.api.PulsarClientException$InvalidMessageException: The producer standalone-0-8 of the topic persistent://public/default/t sends a uncompressed message with 20000 bytes that exceeds 16384 bytes' }, true],
    [{ result: 'send-error:7', errorMsg: 'Invalid Base64 message-payload error=…' }, true],
    [{ result: 'send-error:3', errorMsg: 'Unrecognized token' }, true],
    [{ result: 'send-error:8', errorMsg: 'org.apache.pulsar.client.api.PulsarClientException$TimeoutException: Could not send message to broker within given timeout' }, false],
    [{ result: 'send-error:8', errorMsg: 'org.apache.pulsar.client.api.PulsarClientException$ProducerQueueIsFullError: Producer send queue is full' }, false],
    [{ result: 'closed', errorMsg: 'connection closed (1006)' }, false],
  ])('%j is permanent: %s', (ack, permanent) => {
    expect(isPermanentSendError(ack)).toBe(permanent);
  });

  it('names connection failures in a few words', () => {
    expect(describeConnectFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe('connection refused');
    expect(describeConnectFailure(new Error('Opening handshake has timed out'))).toBe('Opening handshake has timed out');
  });
});

describe('pulsar sink without a server', () => {
  const logger = createLogger('silent', { pretty: false });

  it('refuses up front a record whose frame exceeds the WebSocket frame limit, without connecting', async () => {
    const huge = { ...reading, value: 'x'.repeat(PULSAR_MAX_FRAME_BYTES) };
    const sink = createPulsarSink({ url: 'http://127.0.0.1:1', topic: 'persistent://public/default/t', maxRecords: 10 }, { logger });
    const { refused } = await sink.write([{ reading: huge, json: Buffer.from(JSON.stringify(huge)), id: readingIdOf(huge) }]);
    expect(refused).toEqual([{ index: 0, reason: expect.stringContaining('webSocketMaxTextFrameSize') }]);
    await sink.close();
  });

  it('throws SINK_UNAVAILABLE with "connection refused" when nothing listens, and CLOSED after close', async () => {
    const sink = createPulsarSink({ url: 'http://127.0.0.1:1', topic: 'persistent://public/default/t', maxRecords: 10, ackTimeoutMs: 5_000 }, { logger });
    const failure = await sink.write([record]).catch((error: unknown) => error);
    expect(isSluiceError(failure) && failure.code).toBe('SINK_UNAVAILABLE');
    expect(sink.health()).toEqual({ connected: false, note: 'connection refused' });
    expect(await sink.ping()).toBe(false);
    expect(sink.limits.maxRecords).toBe(10);
    await sink.close();
    const closed = await sink.write([record]).catch((error: unknown) => error);
    expect(isSluiceError(closed) && closed.code).toBe('CLOSED');
  });
});

describe('batchTooLarge', () => {
  it("tells a refused producer batch (the broker's maxMessageSize) from a message too large by itself", () => {
    const batch = { result: 'send-error:8', errorMsg: 'org.apache.pulsar.client.api.PulsarClientException$InvalidMessageException: Message size 17136 is bigger than 16384 bytes' };
    const single = { result: 'send-error:8', errorMsg: 'org.apache.pulsar.client.api.PulsarClientException$InvalidMessageException: The producer p sends a uncompressed message with 16484 bytes that exceeds 16384 bytes' };
    expect(batchTooLarge(batch)).toBe(16384);
    expect(isPermanentSendError(batch)).toBe(false);
    expect(batchTooLarge(single)).toBeUndefined();
    expect(isPermanentSendError(single)).toBe(true);
  });

  it('leaves batching out of the producer URL when asked', () => {
    expect(pulsarProducerUrl('http://h:8080', 'persistent://a/b/c', { sendTimeoutMs: 1000, batching: false })).toBe('ws://h:8080/ws/v2/producer/persistent/a/b/c?sendTimeoutMillis=1000');
  });
});
