import { describe, expect, it } from 'vitest';
import { account, ackedFromRows } from '../../../bench/accounting.js';
import { benchPayload, decodeSequence, sequenceValue } from '../../../bench/payload.js';
import { normalize } from '../../../bridge/normalize/index.js';
import { telemetryTopic } from '../../../core/topics.js';

function rows(devices: number, messages: number): Map<number, Uint8Array> {
  return new Map(Array.from({ length: devices }, (_, d) => [d, new Uint8Array(messages).fill(1)]));
}

function allValues(devices: number, messages: number): number[] {
  return Array.from({ length: devices * messages }, (_, i) => sequenceValue(Math.floor(i / messages), i % messages));
}

describe('bench accounting', () => {
  it('counts nothing lost and no duplicates when the store holds exactly what was acknowledged', () => {
    const acked = rows(3, 100);
    expect(account(ackedFromRows(acked), acked, allValues(3, 100))).toMatchObject({ stored: 300, lost: 0, duplicatesStored: 0, storedNotAcked: 0 });
  });

  it('counts a known loss', () => {
    const acked = rows(3, 100);
    const stored = allValues(3, 100).filter((v) => v !== sequenceValue(1, 42) && v !== sequenceValue(2, 0));
    const result = account(ackedFromRows(acked), acked, stored);
    expect(result).toMatchObject({ stored: 298, lost: 2, duplicatesStored: 0 });
    expect(result.lostExamples).toEqual([{ deviceIndex: 1, message: 42 }, { deviceIndex: 2, message: 0 }]);
  });

  it('counts known duplicates (a point stored three times is two duplicates)', () => {
    const acked = rows(2, 10);
    const stored = [...allValues(2, 10), sequenceValue(0, 3), sequenceValue(0, 3), sequenceValue(1, 9)];
    expect(account(ackedFromRows(acked), acked, stored)).toMatchObject({ stored: 23, lost: 0, duplicatesStored: 3 });
  });

  it('tells duplicates InfluxDB would keep (another timestamp) from re-writes of the same point', () => {
    const acked = rows(1, 3);
    const at = (message: number, timestamp: number) => ({ value: sequenceValue(0, message), timestamp });
    // Message 0 written twice at the same time (a writer re-reading), message 1 resent and stored at a new time.
    const stored = [at(0, 1000), at(0, 1000), at(1, 2000), at(1, 2500), at(1, 2500), at(2, 3000)];
    expect(account(ackedFromRows(acked), acked, stored)).toMatchObject({ stored: 6, lost: 0, duplicatesStored: 3, duplicatesKept: 1 });
    expect(account(ackedFromRows(acked), acked, allValues(1, 3)).duplicatesKept).toBeNull();
  });

  it('counts stored messages that were never acknowledged apart from losses', () => {
    const acked = rows(1, 10);
    acked.get(0)![9] = 0;
    const result = account(ackedFromRows(acked), acked, allValues(1, 10));
    expect(result).toMatchObject({ lost: 0, storedNotAcked: 1 });
    expect(ackedFromRows(acked).count()).toBe(9);
  });

  it('bench payloads are about 100 bytes and normalize to one reading whose value identifies the message', () => {
    const value = sequenceValue(1234, 567);
    const payload = benchPayload('abcd1234', value, 1_750_000_000_000);
    expect(Buffer.byteLength(payload)).toBeGreaterThanOrEqual(95);
    expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(105);
    const result = normalize({ deviceId: 'bench-01234', topic: telemetryTopic('bench-01234'), payload: Buffer.from(payload), receivedAt: 1_750_000_000_100 });
    expect(result.rejections).toEqual([]);
    expect(result.readings).toHaveLength(1);
    expect(result.readings[0]).toMatchObject({ metric: 'bench_seq', value, ts: 1_750_000_000_000, tags: { run: 'abcd1234' } });
    expect(decodeSequence(value)).toEqual({ deviceIndex: 1234, message: 567 });
  });
});
