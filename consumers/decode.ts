import type { DeviceEvent, Reading } from '../core/reading.js';
import type { ConsumedRecord } from '../core/seams.js';

/**
 * Records come from our own producer, but a topic may hold anything someone wrote to it: a record
 * that is not a reading is skipped and reported, never allowed to stall a partition.
 */
export function decodeReadings(records: readonly ConsumedRecord[]): { readings: Reading[]; invalid: ConsumedRecord[] } {
  const readings: Reading[] = [];
  const invalid: ConsumedRecord[] = [];
  for (const record of records) {
    const reading = parseJson(record.value);
    if (isReading(reading)) readings.push(reading);
    else invalid.push(record);
  }
  return { readings, invalid };
}

export function decodeEvent(record: ConsumedRecord): DeviceEvent | undefined {
  const event = parseJson(record.value) as Partial<DeviceEvent> | undefined;
  if (!event || typeof event.deviceId !== 'string' || typeof event.type !== 'string' || typeof event.ts !== 'number') return undefined;
  return event as DeviceEvent;
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
    typeof r.receivedAt === 'number'
  );
}
