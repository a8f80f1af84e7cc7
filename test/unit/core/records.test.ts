import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_PAYLOAD_BYTES, type DeadLetter, type DeviceEvent, type Reading } from '../../../core/reading.js';
import {
  createDeadLetter,
  decodeDeadLetter,
  decodeEvent,
  decodeReading,
  decodeReadings,
  encodeDeadLetter,
  encodeEvent,
  encodeReading,
} from '../../../core/records.js';
import type { OutgoingRecord } from '../../../core/seams.js';

const RECEIVED_AT = 1_732_492_800_456;
const record = (value: string) => ({ value: Buffer.from(value, 'utf8') });
/** What a consumer receives for what a producer sent. */
const consumed = (sent: OutgoingRecord) => record(sent.value);

const reading: Reading = {
  deviceId: 'd1',
  metric: 'temperature',
  value: 21.5,
  unit: 'Cel',
  ts: 1_732_492_800_123,
  timeNs: '1732492800123456789',
  receivedAt: RECEIVED_AT,
  tags: { room: 'lab' },
};
const event: DeviceEvent = { deviceId: 'd1', type: 'offline', reason: 'connection-lost', detail: 'keepalive', ts: 1_732_492_801_000, remoteAddress: '127.0.0.1' };

/**
 * The bytes Sluice wrote before the codec had a module of its own (bridge/bridge.ts, consumers/writer.ts): the
 * format is a contract (docs/contracts.md §6), so these literals change only together with every reader of the topics.
 */
describe('records: encoding is byte-identical to the records already in Kafka', () => {
  it('a reading: key = device id, value = the reading as JSON, timestamp = receivedAt', () => {
    expect(encodeReading(reading)).toStrictEqual({
      key: 'd1',
      value: '{"deviceId":"d1","metric":"temperature","value":21.5,"unit":"Cel","ts":1732492800123,"timeNs":"1732492800123456789","receivedAt":1732492800456,"tags":{"room":"lab"}}',
      timestamp: 1732492800456,
    });
  });

  it('a device event: key = device id, value = the event as JSON, timestamp = the event time', () => {
    expect(encodeEvent(event)).toStrictEqual({
      key: 'd1',
      value: '{"deviceId":"d1","type":"offline","reason":"connection-lost","detail":"keepalive","ts":1732492801000,"remoteAddress":"127.0.0.1"}',
      timestamp: 1732492801000,
    });
  });

  it('a dead letter of the bridge: payload in base64 with its size, timestamp = receivedAt', () => {
    const letter = createDeadLetter({ deviceId: 'd1', code: 'INVALID_JSON', reason: 'payload is not valid JSON', topic: 'devices/d1/telemetry', payload: Buffer.from('{"a":'), receivedAt: RECEIVED_AT });
    expect(encodeDeadLetter(letter)).toStrictEqual({
      key: 'd1',
      value: '{"deviceId":"d1","code":"INVALID_JSON","reason":"payload is not valid JSON","topic":"devices/d1/telemetry","payload":"eyJhIjo=","payloadBytes":5,"receivedAt":1732492800456}',
      timestamp: 1732492800456,
    });
  });

  it('a dead letter of a payload too large to keep: its first DEAD_LETTER_PAYLOAD_BYTES, marked truncated', () => {
    const payload = Buffer.alloc(DEAD_LETTER_PAYLOAD_BYTES + 1, 'a');
    const letter = createDeadLetter({ deviceId: 'd1', code: 'PAYLOAD_TOO_LARGE', reason: 'too large', topic: 'devices/d1/telemetry', payload, receivedAt: RECEIVED_AT });
    const kept = Buffer.alloc(DEAD_LETTER_PAYLOAD_BYTES, 'a').toString('base64');
    expect(encodeDeadLetter(letter).value).toBe(
      `{"deviceId":"d1","code":"PAYLOAD_TOO_LARGE","reason":"too large","topic":"devices/d1/telemetry","payload":"${kept}","payloadBytes":65537,"payloadTruncated":true,"receivedAt":1732492800456}`,
    );
    expect(createDeadLetter({ deviceId: 'd1', code: 'X', reason: 'r', topic: 't', payload: Buffer.alloc(DEAD_LETTER_PAYLOAD_BYTES), receivedAt: 0 })).not.toHaveProperty('payloadTruncated');
  });

  it('a dead letter of the writer (a reading the store refused): the reading record as payload, timestamp = the refusal', () => {
    const letter = createDeadLetter({
      deviceId: 'd1',
      code: 'STORE_REJECTED',
      reason: 'the store refused this reading: field type conflict',
      topic: 'devices/d1/telemetry',
      // A record as Sluice wrote them before `timeNs` (the payload bytes below are that record's).
      payload: Buffer.from(encodeReading({ deviceId: 'd1', metric: 'm', value: 'on', ts: 1, receivedAt: 2 } as Reading).value),
      receivedAt: 2,
    });
    expect(encodeDeadLetter(letter, 1_732_492_900_000)).toStrictEqual({
      key: 'd1',
      value:
        '{"deviceId":"d1","code":"STORE_REJECTED","reason":"the store refused this reading: field type conflict","topic":"devices/d1/telemetry","payload":"eyJkZXZpY2VJZCI6ImQxIiwibWV0cmljIjoibSIsInZhbHVlIjoib24iLCJ0cyI6MSwicmVjZWl2ZWRBdCI6Mn0=","payloadBytes":65,"receivedAt":2}',
      timestamp: 1732492900000,
    });
  });
});

describe('records: round trips', () => {
  it('a reading, with and without the optional fields, of every value type', () => {
    const readings: Reading[] = [
      reading,
      { deviceId: 'd2', metric: 'door', value: true, ts: 1, timeNs: '1000001', receivedAt: 2 },
      { deviceId: 'd3', metric: 'mode', value: 'eco', ts: 3, timeNs: '3000000', receivedAt: 3 },
    ];
    for (const r of readings) expect(decodeReading(consumed(encodeReading(r)))).toStrictEqual(r);
  });

  it('a reading record from before timeNs decodes with its ms time in ns, the point it was stored as then', () => {
    const old = record('{"deviceId":"d1","metric":"m","value":1,"ts":1732492800123,"receivedAt":1732492800456}');
    expect(decodeReading(old)).toStrictEqual({ deviceId: 'd1', metric: 'm', value: 1, ts: 1_732_492_800_123, timeNs: '1732492800123000000', receivedAt: 1_732_492_800_456 });
  });

  it('a reading whose timeNs is not decimal digits gets its ms time in ns instead of a time no store can key by', () => {
    for (const timeNs of ['12.5', '-1', '', 1732492800123000000]) {
      const decoded = decodeReading(record(JSON.stringify({ deviceId: 'd1', metric: 'm', value: 1, ts: 5, timeNs, receivedAt: 6 })));
      expect(decoded?.timeNs).toBe('5000000');
    }
  });

  it('a device event of every kind', () => {
    for (const type of ['online', 'offline', 'acl-violation', 'auth-failed', 'auth-failures', 'refused'] as const) {
      const e: DeviceEvent = { deviceId: 'd1', type, reason: 'r', ts: 5 };
      expect(decodeEvent(consumed(encodeEvent(e)))).toStrictEqual(e);
    }
    expect(decodeEvent(consumed(encodeEvent(event)))).toStrictEqual(event);
    const connected: DeviceEvent = { ...event, session: 'gw-a#12', connectedAt: 1_732_492_800_000, gateway: 'gw-a' };
    expect(decodeEvent(consumed(encodeEvent(connected)))).toStrictEqual(connected);
  });

  it('a dead letter, whole or truncated, keeps what the payload held', () => {
    for (const bytes of [0, 5, DEAD_LETTER_PAYLOAD_BYTES + 10]) {
      const payload = Buffer.alloc(bytes, 'x');
      const letter = createDeadLetter({ deviceId: 'd1', code: 'EMPTY_PAYLOAD', reason: 'r', topic: 'devices/d1/telemetry', payload, receivedAt: 7 });
      const decoded = decodeDeadLetter(consumed(encodeDeadLetter(letter)));
      expect(decoded).toStrictEqual(letter);
      expect(Buffer.from(decoded!.payload, 'base64')).toStrictEqual(payload.subarray(0, DEAD_LETTER_PAYLOAD_BYTES));
      expect(decoded!.payloadBytes).toBe(bytes);
    }
  });

  it('a batch keeps the readings in order and hands back the records that are not readings', () => {
    const records = [
      { ...consumed(encodeReading(reading)), offset: '0' },
      { ...record('not json'), offset: '1' },
      { ...consumed(encodeReading({ ...reading, value: 2 })), offset: '2' },
    ];
    const { readings, invalid } = decodeReadings(records);
    expect(readings).toStrictEqual([reading, { ...reading, value: 2 }]);
    expect(invalid).toStrictEqual([records[1]]);
  });
});

/** The rules consumers applied before the codec moved here (consumers/decode.ts, consumers/live-feed.ts). */
describe('records: what decoders reject', () => {
  const good = { deviceId: 'd1', metric: 'm', value: 1, ts: 1, receivedAt: 1 };
  it.each([
    ['not JSON', '{"deviceId":'],
    ['empty', ''],
    ['a NUL character', '\u0000'],
    ['null', 'null'],
    ['an array', '[]'],
    ['a number', '42'],
    ['a string', '"d1"'],
    ['no deviceId', JSON.stringify({ ...good, deviceId: undefined })],
    ['a numeric deviceId', JSON.stringify({ ...good, deviceId: 1 })],
    ['no metric', JSON.stringify({ ...good, metric: undefined })],
    ['no value', JSON.stringify({ ...good, value: undefined })],
    ['a null value', JSON.stringify({ ...good, value: null })],
    ['an object value', JSON.stringify({ ...good, value: { v: 1 } })],
    ['a string ts', JSON.stringify({ ...good, ts: '2024-11-25T00:00:00Z' })],
    ['no receivedAt', JSON.stringify({ ...good, receivedAt: undefined })],
  ])('not a reading: %s', (_name, value) => {
    expect(decodeReading(record(value))).toBeUndefined();
    expect(decodeReadings([record(value)]).invalid).toHaveLength(1);
  });

  it('a reading with unknown fields or without the optional ones decodes as it is (timeNs filled in from ts)', () => {
    expect(decodeReading(record(JSON.stringify({ ...good, extra: 1 })))).toStrictEqual({ ...good, timeNs: '1000000', extra: 1 });
    expect(decodeReading(record(JSON.stringify(good)))).toStrictEqual({ ...good, timeNs: '1000000' });
  });

  const goodEvent = { deviceId: 'd1', type: 'online', reason: 'connected', ts: 1 };
  it.each([
    ['not JSON', 'x'],
    ['null', 'null'],
    ['false', 'false'],
    ['a number', '7'],
    ['no deviceId', JSON.stringify({ ...goodEvent, deviceId: undefined })],
    ['no type', JSON.stringify({ ...goodEvent, type: undefined })],
    ['a numeric type', JSON.stringify({ ...goodEvent, type: 1 })],
    ['a string ts', JSON.stringify({ ...goodEvent, ts: '1' })],
  ])('not a device event: %s', (_name, value) => {
    expect(decodeEvent(record(value))).toBeUndefined();
  });

  it('a device event is not checked beyond deviceId, type and ts, and its connection', () => {
    expect(decodeEvent(record('{"deviceId":"d1","type":"rebooted","ts":1}'))).toStrictEqual({ deviceId: 'd1', type: 'rebooted', ts: 1 });
  });

  it.each([
    ['a numeric session', { session: 12 }],
    ['an empty session', { session: '' }],
    ['a string connectedAt', { connectedAt: '1' }],
    ['a null connectedAt', { connectedAt: null }],
    ['a numeric gateway', { gateway: 7 }],
  ])('a device event with %s keeps the event without that field (it would order status wrong)', (_name, bad) => {
    const decoded = decodeEvent(record(JSON.stringify({ ...goodEvent, session: 'gw-a#1', connectedAt: 1, gateway: 'gw-a', ...bad })));
    const field = Object.keys(bad)[0]!;
    expect(decoded).toBeDefined();
    expect(field in decoded!).toBe(false);
    const { [field]: _dropped, ...kept } = { ...goodEvent, session: 'gw-a#1', connectedAt: 1, gateway: 'gw-a' } as Record<string, unknown>;
    expect(decoded).toStrictEqual(kept);
  });

  const goodLetter = { deviceId: 'd1', code: 'INVALID_JSON', reason: 'r', topic: 't', payload: '', receivedAt: 1 };
  it.each([
    ['not JSON', '{'],
    ['null', 'null'],
    ['0', '0'],
    ['no deviceId', JSON.stringify({ ...goodLetter, deviceId: undefined })],
    ['no code', JSON.stringify({ ...goodLetter, code: undefined })],
    ['a numeric code', JSON.stringify({ ...goodLetter, code: 400 })],
    ['no receivedAt', JSON.stringify({ ...goodLetter, receivedAt: undefined })],
  ])('not a dead letter: %s', (_name, value) => {
    expect(decodeDeadLetter(record(value))).toBeUndefined();
  });

  it('a dead letter of an older Sluice, without payloadBytes, decodes', () => {
    const older: DeadLetter = { deviceId: 'd1', code: 'INVALID_JSON', reason: 'r', topic: 'devices/d1/telemetry', payload: 'e30=', receivedAt: 1 };
    expect(decodeDeadLetter(record(JSON.stringify(older)))).toStrictEqual(older);
  });
});
