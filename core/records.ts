/**
 * The Kafka record format (contract: docs/contracts.md §6 Kafka topics): the one module that turns readings, device
 * events and dead letters into records and back. Producers (bridge, writer, bench baseline) encode here, consumers
 * (writer, live feed, replay) decode here; the embedded queue carries the same records.
 *
 *   stream       key        value (JSON, UTF-8)   record timestamp (epoch ms)
 *   telemetry    device id  Reading               reading.receivedAt
 *   events       device id  DeviceEvent           event.ts
 *   deadletter   device id  DeadLetter            when it was made: receivedAt (bridge), the store's refusal (writer)
 *   alerts       device id  AlertTransition       the transition's event time (alert.ts)
 *
 * No headers. The key is the device id, so one device's records keep their order in one partition. Record
 * timestamps are what `sluice replay --from/--to` and the live feed's warm-up window select by.
 *
 * Decoding trusts nothing: a topic may hold anything someone wrote to it. A record that is not what its stream
 * carries decodes to undefined (or lands in `invalid`), to be skipped and reported, never allowed to stall a
 * partition. The checks are deliberately shallow — the fields a consumer relies on have the right types — so a
 * record from an older or newer Sluice with fields added or left out still decodes.
 */
import { createHash } from 'node:crypto';
import { ALERT_TRANSITIONS, CLEAR_REASONS, SEVERITIES, type AlertTransition } from './alerts.js';
import { DEAD_LETTER_PAYLOAD_BYTES, timeNsOfMs, type DeadLetter, type DeviceEvent, type Reading } from './reading.js';
import type { OutgoingRecord } from './seams.js';

/** What a decoder needs of a consumed record: a ConsumedRecord, or a record read back from history. */
export interface EncodedRecord {
  value: Buffer;
}

export function encodeReading(reading: Reading): OutgoingRecord {
  return { key: reading.deviceId, value: JSON.stringify(reading), timestamp: reading.receivedAt };
}

/**
 * A reading's id, stable wherever and however often it is delivered (docs/contracts.md §16): its identity of §5
 * (device, metric, tags, timeNs), hashed to 32 hex digits. Forward sinks carry it (RabbitMQ `message-id`, a Pulsar
 * property), so a consumer drops a redelivered reading by its id.
 */
export function readingIdOf(reading: Pick<Reading, 'deviceId' | 'metric' | 'timeNs' | 'tags'>): string {
  const tags = reading.tags ? Object.entries(reading.tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : [];
  return createHash('sha256').update(JSON.stringify([reading.deviceId, reading.metric, reading.timeNs, tags])).digest('hex').slice(0, 32);
}

export function encodeEvent(event: DeviceEvent): OutgoingRecord {
  return { key: event.deviceId, value: JSON.stringify(event), timestamp: event.ts };
}

/** `timestamp`: when the dead letter was made; by default when the payload was received. */
export function encodeDeadLetter(deadLetter: DeadLetter, timestamp: number = deadLetter.receivedAt): OutgoingRecord {
  return { key: deadLetter.deviceId, value: JSON.stringify(deadLetter), timestamp };
}

export interface DeadLetterInput {
  deviceId: string;
  /** A rejection code (bridge/normalize/rejections.ts) or an error code (core/errors.ts). */
  code: string;
  reason: string;
  /** The MQTT topic the payload came on (or, for a reading the store refused, would have). */
  topic: string;
  /** The original payload: cut to DEAD_LETTER_PAYLOAD_BYTES here, so a dead letter always fits a Kafka record. */
  payload: Buffer;
  receivedAt: number;
}

/** The one way a dead letter is made, whoever refuses the payload. */
export function createDeadLetter(input: DeadLetterInput): DeadLetter {
  const { payload } = input;
  return {
    deviceId: input.deviceId,
    code: input.code,
    reason: input.reason,
    topic: input.topic,
    payload: payload.subarray(0, DEAD_LETTER_PAYLOAD_BYTES).toString('base64'),
    payloadBytes: payload.length,
    ...(payload.length > DEAD_LETTER_PAYLOAD_BYTES ? { payloadTruncated: true as const } : {}),
    receivedAt: input.receivedAt,
  };
}

/** Splits a batch into the readings it holds and the records that are not readings, in order. */
export function decodeReadings<R extends EncodedRecord>(records: readonly R[]): { readings: Reading[]; invalid: R[] } {
  const readings: Reading[] = [];
  const invalid: R[] = [];
  for (const record of records) {
    const reading = decodeReading(record);
    if (reading) readings.push(reading);
    else invalid.push(record);
  }
  return { readings, invalid };
}

/**
 * A reading needs `deviceId`, `metric`, a number, boolean or string `value`, and numeric `ts` and `receivedAt`.
 * Records written before `timeNs` existed (or with one that is not decimal digits) get `ts` in ns: the point
 * they were stored as then.
 */
export function decodeReading(record: EncodedRecord): Reading | undefined {
  const value = parseJson(record.value);
  if (!isReading(value)) return undefined;
  const { timeNs } = value as { timeNs?: unknown };
  if (typeof timeNs === 'string' && DECIMAL_DIGITS.test(timeNs)) return value;
  return { ...value, timeNs: timeNsOfMs(value.ts) };
}

const DECIMAL_DIGITS = /^\d{1,30}$/;

/**
 * A device event needs a string `deviceId` and `type` and a numeric `ts`. `session`, `gateway` (non-empty strings)
 * and `connectedAt` (a finite number) are kept only when well-typed: they order a device's status
 * (core/device-status.ts), and a malformed one must order nothing, so it is dropped and the event kept.
 */
export function decodeEvent(record: EncodedRecord): DeviceEvent | undefined {
  const event = parseJson(record.value) as Partial<Record<keyof DeviceEvent, unknown>> | undefined;
  if (!event || typeof event.deviceId !== 'string' || typeof event.type !== 'string' || typeof event.ts !== 'number') return undefined;
  const { session: _session, connectedAt: _connectedAt, gateway: _gateway, ...rest } = event;
  return { ...(rest as DeviceEvent), ...connectionFieldsOf(event) };
}

/** An event's `session`, `connectedAt` and `gateway`, those that are well-typed (decodeEvent, `sluice rules test`'s files). */
export function connectionFieldsOf(fields: Readonly<Record<string, unknown>>): Pick<DeviceEvent, 'session' | 'connectedAt' | 'gateway'> {
  const { session, connectedAt, gateway } = fields;
  return {
    ...(isName(session) ? { session } : {}),
    ...(typeof connectedAt === 'number' && Number.isFinite(connectedAt) ? { connectedAt } : {}),
    ...(isName(gateway) ? { gateway } : {}),
  };
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** A dead letter needs a string `deviceId` and `code` and a numeric `receivedAt`. */
export function decodeDeadLetter(record: EncodedRecord): DeadLetter | undefined {
  const deadLetter = parseJson(record.value) as Partial<DeadLetter> | undefined;
  if (!deadLetter || typeof deadLetter.deviceId !== 'string' || typeof deadLetter.code !== 'string' || typeof deadLetter.receivedAt !== 'number') return undefined;
  return deadLetter as DeadLetter;
}

export function encodeAlert(alert: AlertTransition): OutgoingRecord {
  return { key: alert.deviceId, value: JSON.stringify(alert), timestamp: alert.ts };
}

/** An alert needs its ids, a known severity, transition and state, a numeric value, and numeric times and `seq`. */
export function decodeAlert(record: EncodedRecord): AlertTransition | undefined {
  const alert = parseJson(record.value) as Partial<AlertTransition> | undefined;
  if (!alert || typeof alert.alertId !== 'string' || typeof alert.ruleId !== 'string' || typeof alert.deviceId !== 'string') return undefined;
  if (!SEVERITIES.includes(alert.severity!) || !ALERT_TRANSITIONS.includes(alert.transition!) || (alert.state !== 'open' && alert.state !== 'cleared')) return undefined;
  if (typeof alert.value !== 'number' || typeof alert.raisedAt !== 'number' || typeof alert.ts !== 'number' || typeof alert.seq !== 'number' || alert.seq < 1) return undefined;
  if (alert.clearReason !== undefined && !CLEAR_REASONS.includes(alert.clearReason)) return undefined;
  return alert as AlertTransition;
}

/** A short, stable alert id: the first 16 hex digits of sha1(rule id, device id, raisedAt). */
export function alertIdOf(ruleId: string, deviceId: string, raisedAt: number): string {
  return createHash('sha1').update(`${ruleId}\u0000${deviceId}\u0000${raisedAt}`).digest('hex').slice(0, 16);
}

function parseJson(value: Buffer): unknown {
  try {
    return JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isReading(value: unknown): value is Reading {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.deviceId === 'string' &&
    typeof r.metric === 'string' &&
    (typeof r.value === 'number' || typeof r.value === 'boolean' || typeof r.value === 'string') &&
    typeof r.ts === 'number' &&
    Number.isFinite(r.ts) &&
    typeof r.receivedAt === 'number'
  );
}
