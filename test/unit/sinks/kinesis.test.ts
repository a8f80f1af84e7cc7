import type { PutRecordsInput, PutRecordsOutput } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import {
  admitRecords,
  classifyRequestError,
  createKinesisSink,
  entryOutcome,
  planRequest,
  type KinesisSender,
  type PendingRecord,
} from '../../../consumers/sinks/kinesis.js';
import { ErrorCodes } from '../../../core/errors.js';
import { createLogger } from '../../../core/logger.js';
import { timeNsOfMs, type Reading } from '../../../core/reading.js';
import { encodeReading, readingIdOf } from '../../../core/records.js';
import type { SinkRecord } from '../../../core/seams.js';

const logger = createLogger('silent');

function record(deviceId: string, value: number, bytes = 0): SinkRecord {
  const reading: Reading = { deviceId, metric: bytes ? 'blob' : 'seq', value: bytes ? 'x'.repeat(bytes) : value, ts: 1_000 + value, timeNs: timeNsOfMs(1_000 + value), receivedAt: 2_000 };
  return { reading, json: Buffer.from(encodeReading(reading).value), id: readingIdOf(reading) };
}

function pending(keys: string[], size = 10): PendingRecord[] {
  return keys.map((key, index) => ({ index, key, data: Buffer.alloc(size - key.length), size }));
}

/**
 * A Kinesis whose PutRecords fails the entries `fail` picks (by the record's data and how often it was put); it
 * keeps, per partition key, the data in the order it acknowledged them, as a shard would.
 */
function fakeKinesis(fail: (data: string, attempt: number) => string | undefined = () => undefined) {
  const stored = new Map<string, string[]>();
  const attempts = new Map<string, number>();
  const requests: string[][] = [];
  const sender: KinesisSender = {
    putRecords(input: PutRecordsInput): Promise<PutRecordsOutput> {
      const entries = input.Records ?? [];
      requests.push(entries.map((entry) => Buffer.from(entry.Data ?? new Uint8Array()).toString('utf8')));
      const results = entries.map((entry) => {
        const data = Buffer.from(entry.Data ?? new Uint8Array()).toString('utf8');
        const attempt = attempts.get(data) ?? 0;
        attempts.set(data, attempt + 1);
        const code = fail(data, attempt);
        if (code !== undefined) return { ErrorCode: code, ErrorMessage: `${code} for this record` };
        const key = entry.PartitionKey ?? '';
        stored.set(key, [...(stored.get(key) ?? []), data]);
        return { SequenceNumber: '1', ShardId: 'shardId-000000000000' };
      });
      return Promise.resolve({ FailedRecordCount: results.filter((result) => 'ErrorCode' in result).length, Records: results });
    },
    describeStreamSummary: () => Promise.resolve({ StreamDescriptionSummary: { StreamStatus: 'ACTIVE' } as never }),
    destroy: () => undefined,
  };
  return { sender, stored, requests };
}

function valuesOf(stored: string[] | undefined): number[] {
  return (stored ?? []).map((data) => (JSON.parse(data) as Reading).value as number);
}

describe('planRequest', () => {
  it('takes the oldest pending record of each device, in write order', () => {
    const plan = planRequest(pending(['a', 'a', 'b', 'a', 'c', 'b']), { maxRecords: 500, maxBytes: 1_000 });
    expect(plan.map((record) => record.index)).toEqual([0, 2, 4]);
  });

  it('stops at the request record limit', () => {
    const plan = planRequest(pending(['a', 'b', 'c', 'd']), { maxRecords: 2, maxBytes: 1_000 });
    expect(plan.map((record) => record.index)).toEqual([0, 1]);
  });

  it('leaves a device out when its oldest record does not fit, never sending its later records ahead of it', () => {
    const records: PendingRecord[] = [
      { index: 0, key: 'a', data: Buffer.alloc(7), size: 8 },
      { index: 1, key: 'b', data: Buffer.alloc(5), size: 6 },
      { index: 2, key: 'b', data: Buffer.alloc(0), size: 1 },
      { index: 3, key: 'c', data: Buffer.alloc(1), size: 2 },
    ];
    expect(planRequest(records, { maxRecords: 500, maxBytes: 10 }).map((record) => record.index)).toEqual([0, 3]);
  });
});

describe('admitRecords', () => {
  it("refuses a record over Kinesis' 1 MiB limit, counting the partition key, and keeps the others", () => {
    const fits = record('dev-1', 1);
    // Data 2 bytes under 1 MiB: the 5 bytes of the key take it over.
    const overhead = record('dev-1', 2, 1).json.length - 1;
    const justOver = record('dev-1', 2, 1024 * 1024 - 2 - overhead);
    expect(justOver.json.length).toBeLessThanOrEqual(1024 * 1024);
    expect(justOver.json.length + 'dev-1'.length).toBeGreaterThan(1024 * 1024);
    const { pending: admitted, refused } = admitRecords([fits, justOver, record('dev-2', 3)]);
    expect(admitted.map((entry) => entry.index)).toEqual([0, 2]);
    expect(refused).toEqual([{ index: 1, reason: expect.stringMatching(/bytes \(data and partition key\) are larger than Kinesis' 1 MiB record limit/) }]);
  });
});

describe('entryOutcome', () => {
  it.each([
    [{ SequenceNumber: '1' }, 'acknowledged'],
    [{ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' }, 'retry'],
    [{ ErrorCode: 'InternalFailure', ErrorMessage: 'oops' }, 'retry'],
    [{ ErrorCode: 'KMSThrottlingException', ErrorMessage: 'slow down' }, 'retry'],
    [{ ErrorCode: 'KMSDisabledException', ErrorMessage: 'disabled' }, 'retry'],
    [{ ErrorCode: 'SomethingNew', ErrorMessage: '?' }, 'retry'],
    [{ ErrorCode: 'InvalidArgumentException', ErrorMessage: 'Record data size 1100000 exceeds the max' }, 'refused'],
  ])('%o is %s', (entry, kind) => {
    expect(entryOutcome(entry).kind).toBe(kind);
  });

  it("keeps Kinesis' words in a refusal and marks throughput failures for the longer wait", () => {
    expect(entryOutcome({ ErrorCode: 'InvalidArgumentException', ErrorMessage: 'too big' })).toEqual({
      kind: 'refused',
      reason: 'Kinesis refused the record: InvalidArgumentException: too big',
    });
    expect(entryOutcome({ ErrorCode: 'ProvisionedThroughputExceededException' })).toMatchObject({ throttled: true });
    expect(entryOutcome({ ErrorCode: 'InternalFailure' })).toMatchObject({ throttled: false });
  });
});

describe('classifyRequestError', () => {
  const context = { stream: 'telemetry', timeoutMs: 1_000 };
  const named = (name: string, status?: number): Error => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });

  it('names the stream when it does not exist', () => {
    const { error, note, connected } = classifyRequestError(named('ResourceNotFoundException', 400), context);
    expect(error).toMatchObject({ code: ErrorCodes.SINK_UNAVAILABLE, retriable: true, details: { retryAfterMs: expect.any(Number) } });
    expect(error.message).toMatch(/stream "telemetry" does not exist/);
    expect({ note, connected }).toEqual({ note: 'stream "telemetry" does not exist', connected: true });
  });

  it.each(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'CredentialsProviderError'])('%s is SINK_UNAUTHORIZED', (name) => {
    expect(classifyRequestError(named(name, name === 'CredentialsProviderError' ? undefined : 400), context).error.code).toBe(ErrorCodes.SINK_UNAUTHORIZED);
  });

  it('throttling, 5xx and the network are SINK_UNAVAILABLE with a wait', () => {
    for (const error of [named('LimitExceededException', 400), named('InternalFailure', 500), Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })]) {
      expect(classifyRequestError(error, context).error).toMatchObject({ code: ErrorCodes.SINK_UNAVAILABLE, details: { retryAfterMs: expect.any(Number) } });
    }
    const refused = new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })], 'connect failed');
    expect(classifyRequestError(refused, context)).toMatchObject({ connected: false, note: 'connection refused' });
    expect(classifyRequestError(named('TimeoutError'), context)).toMatchObject({ connected: false, note: 'no answer within 1000 ms' });
  });
});

describe('createKinesisSink with a stubbed Kinesis', () => {
  it('retries only the failed records and never lets a later record of their device land first', async () => {
    // a's 2nd record and b's 1st fail twice each: the rest of a and b must wait behind them, c goes on.
    const kinesis = fakeKinesis((data, attempt) => {
      const { deviceId, value } = JSON.parse(data) as Reading;
      if (attempt < 2 && ((deviceId === 'a' && value === 1) || (deviceId === 'b' && value === 4))) return 'ProvisionedThroughputExceededException';
      if (attempt < 1 && deviceId === 'c' && value === 5) return 'InternalFailure';
      return undefined;
    });
    const sink = createKinesisSink({ stream: 's', maxRecords: 500 }, { logger, client: kinesis.sender });
    const records = [record('a', 0), record('a', 1), record('a', 2), record('a', 3), record('b', 4), record('c', 5), record('b', 6), record('c', 7)];
    await expect(sink.write(records)).resolves.toEqual({ refused: [] });
    expect(valuesOf(kinesis.stored.get('a'))).toEqual([0, 1, 2, 3]);
    expect(valuesOf(kinesis.stored.get('b'))).toEqual([4, 6]);
    expect(valuesOf(kinesis.stored.get('c'))).toEqual([5, 7]);
    // Every request held at most one record per device.
    for (const request of kinesis.requests) {
      const devices = request.map((data) => (JSON.parse(data) as Reading).deviceId);
      expect(new Set(devices).size).toBe(devices.length);
    }
  });

  it('returns the records Kinesis refuses one by one with its reason and delivers the rest', async () => {
    const kinesis = fakeKinesis((data) => ((JSON.parse(data) as Reading).value === 1 ? 'InvalidArgumentException' : undefined));
    const sink = createKinesisSink({ stream: 's', maxRecords: 500 }, { logger, client: kinesis.sender });
    const result = await sink.write([record('a', 0), record('a', 1), record('a', 2), record('b', 3)]);
    expect(result.refused).toEqual([{ index: 1, reason: 'Kinesis refused the record: InvalidArgumentException: InvalidArgumentException for this record' }]);
    expect(valuesOf(kinesis.stored.get('a'))).toEqual([0, 2]);
  });

  it('gives the write back as SINK_UNAVAILABLE when records keep failing past the retry budget', async () => {
    const kinesis = fakeKinesis((data) => ((JSON.parse(data) as Reading).value === 1 ? 'InternalFailure' : undefined));
    const sink = createKinesisSink({ stream: 's', maxRecords: 500, retryBudgetMs: 300 }, { logger, client: kinesis.sender });
    await expect(sink.write([record('a', 0), record('a', 1), record('a', 2), record('b', 3)])).rejects.toMatchObject({
      code: ErrorCodes.SINK_UNAVAILABLE,
      message: expect.stringMatching(/InternalFailure/),
    });
    // a's record 2 never went out ahead of the failing record 1; b's did.
    expect(valuesOf(kinesis.stored.get('a'))).toEqual([0]);
    expect(valuesOf(kinesis.stored.get('b'))).toEqual([3]);
  });

  it('caps its limits at 500 records and 5 MiB, and refuses writes once closed', async () => {
    const kinesis = fakeKinesis();
    const sink = createKinesisSink({ stream: 's', maxRecords: 2_000 }, { logger, client: kinesis.sender });
    expect(sink.limits).toEqual({ maxRecords: 500, maxBytes: 5 * 1024 * 1024 });
    await expect(sink.ping()).resolves.toBe(true);
    await sink.close();
    await expect(sink.write([record('a', 0)])).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await expect(sink.ping()).resolves.toBe(false);
  });

  it('bounds a request that never answers', async () => {
    const hanging: KinesisSender = {
      putRecords: () => new Promise(() => undefined),
      describeStreamSummary: () => new Promise(() => undefined),
      destroy: () => undefined,
    };
    const sink = createKinesisSink({ stream: 's', maxRecords: 500, requestTimeoutMs: 50 }, { logger, client: hanging });
    await expect(sink.write([record('a', 0)])).rejects.toMatchObject({ code: ErrorCodes.SINK_UNAVAILABLE });
    expect(sink.health()).toEqual({ connected: false, note: 'no answer within 50 ms' });
  });
});
