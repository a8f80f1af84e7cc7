import { describe, expect, it } from 'vitest';
import {
  epochMsFromDigits,
  epochMsFromIso,
  epochMsFromJson,
  epochMsFromSenml,
  isTimeError,
  SENML_RELATIVE_BELOW,
} from '../../../../bridge/normalize/timestamp.js';
import { BASE_TOPIC, codes, reading, RECEIVED_AT, run } from './helpers.js';

const MS = 1732492800123; // 2024-11-25T00:00:00.123Z

describe('epochMsFromJson: numeric unit chosen by magnitude', () => {
  it.each([
    ['seconds (integer)', 1732492800, 1732492800000],
    ['seconds (fraction)', 1732492800.123, MS],
    ['seconds, largest value read as seconds', 99_999_999_999, 99_999_999_999_000],
    ['milliseconds, smallest value read as ms', 1e11, 100_000_000_000],
    ['milliseconds', MS, MS],
    ['milliseconds with a fraction: ts is the floor of the precise time', MS + 0.5, MS],
    ['milliseconds, largest value read as ms', 99_999_999_999_999, 99_999_999_999_999],
    ['microseconds, smallest value read as µs', 1e14, 100_000_000_000],
    ['microseconds', 1732492800123456, MS],
    ['microseconds past half a ms stay in their ms', 1732492800123500, MS],
    ['nanoseconds, smallest value read as ns', 1e17, 100_000_000_000],
    ['nanoseconds, as imprecise as JSON.parse leaves them', Number('1732492800123456789'), MS],
    ['zero is the epoch, in seconds', 0, 0],
    ['numeric text', '1732492800123', MS],
    ['numeric text in seconds with a fraction', ' 1732492800.123 ', MS],
  ])('%s: %s → %s', (_name, input, expected) => {
    expect(epochMsFromJson(input)).toBe(expected);
  });
});

describe('epochMsFromIso: ISO-8601 strings', () => {
  it.each([
    ['UTC with Z', '2024-11-25T00:00:00Z', Date.UTC(2024, 10, 25)],
    ['lowercase z and t', '2024-11-25t00:00:00z', Date.UTC(2024, 10, 25)],
    ['milliseconds', '2024-11-25T00:00:00.123Z', MS],
    ['sub-millisecond digits below half round down', '2024-11-25T00:00:00.1234567Z', MS],
    ['half a millisecond stays in its ms (floor)', '2024-11-25T00:00:00.1235Z', MS],
    ['nanoseconds', '2024-11-25T00:00:00.123456789Z', MS],
    ['comma as decimal separator', '2024-11-25T00:00:00,123Z', MS],
    ['one fraction digit', '2024-11-25T00:00:00.1Z', Date.UTC(2024, 10, 25) + 100],
    ['positive offset with colon', '2024-11-25T01:00:00+01:00', Date.UTC(2024, 10, 25)],
    ['positive offset without colon', '2024-11-25T01:00:00+0100', Date.UTC(2024, 10, 25)],
    ['offset hours only', '2024-11-25T01:00:00+01', Date.UTC(2024, 10, 25)],
    ['negative half-hour offset', '2024-11-24T18:30:00-05:30', Date.UTC(2024, 10, 25)],
    ['no offset is UTC, not the gateway’s zone', '2024-11-25T00:00:00', Date.UTC(2024, 10, 25)],
    ['space instead of T', '2024-11-25 00:00:00Z', Date.UTC(2024, 10, 25)],
    ['minutes only', '2024-11-25T00:01Z', Date.UTC(2024, 10, 25, 0, 1)],
    ['date only is UTC midnight', '2024-11-25', Date.UTC(2024, 10, 25)],
    ['leap day in a leap year', '2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['leap day in a 400-year', '2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
  ])('%s: %s', (_name, input, expected) => {
    expect(epochMsFromIso(input)).toBe(expected);
    expect(epochMsFromJson(input)).toBe(expected);
  });

  it.each([
    ['month 13', '2024-13-01T00:00:00Z'],
    ['February 30', '2024-02-30'],
    ['leap day in a common year', '2023-02-29'],
    ['leap day in a century year', '1900-02-29'],
    ['hour 24', '2024-11-25T24:00:00Z'],
    ['second 60', '2024-11-25T23:59:60Z'],
    ['offset minutes 60', '2024-11-25T00:00:00+01:60'],
    ['before 1970', '1969-12-31T23:59:59Z'],
    ['prose', 'yesterday'],
    ['a date with a trailing word', '2024-11-25 noon'],
    ['empty', ''],
  ])('rejects %s: %j', (_name, input) => {
    expect(isTimeError(epochMsFromIso(input))).toBe(true);
  });
});

describe('epochMsFromJson: unusable times', () => {
  it.each([
    ['negative', -1],
    ['Infinity (from 1e999)', Number.POSITIVE_INFINITY],
    ['NaN', Number.NaN],
    ['boolean', true],
    ['null', null],
    ['object', {}],
    ['array', [1732492800]],
  ])('rejects %s', (_name, input) => {
    expect(isTimeError(epochMsFromJson(input))).toBe(true);
  });
});

describe('epochMsFromDigits: line-protocol integers through BigInt', () => {
  it.each([
    ['nanoseconds', '1732492800123456789', MS],
    ['nanoseconds that Number would round up (…123499999 ns)', '1732492800123499999', MS],
    ['nanoseconds past half a ms stay in their ms', '1732492800123500000', MS],
    ['microseconds', '1732492800123456', MS],
    ['milliseconds', '1732492800123', MS],
    ['seconds', '1732492800', 1732492800000],
    ['leading zeros', '0001732492800', 1732492800000],
  ])('%s: %s', (_name, input, expected) => {
    expect(epochMsFromDigits(input)).toBe(expected);
  });

  it('differs from a Number-based conversion exactly where Number loses precision', () => {
    expect(Math.round(Number('1732492800123499999') / 1e6)).toBe(MS + 1);
    expect(epochMsFromDigits('1732492800123499999')).toBe(MS);
  });

  it.each([
    ['negative', '-1732492800000000000'],
    ['a fraction', '1732492800.5'],
    ['hex', '0x10'],
    ['empty', ''],
    ['too large to be a finite Number of ms', '9'.repeat(400)],
  ])('rejects %s', (_name, input) => {
    expect(isTimeError(epochMsFromDigits(input))).toBe(true);
  });
});

describe('epochMsFromSenml: RFC 8428 §4.5.3 seconds, relative below 2**28', () => {
  it.each([
    ['zero means now', 0, RECEIVED_AT],
    ['negative is seconds before now', -5, RECEIVED_AT - 5000],
    ['fractional relative seconds', -0.25, RECEIVED_AT - 250],
    ['positive relative seconds are after now', 2, RECEIVED_AT + 2000],
    ['largest relative value', SENML_RELATIVE_BELOW - 1, RECEIVED_AT + (2 ** 28 - 1) * 1000],
    ['2**28 is absolute (1978-07-04)', SENML_RELATIVE_BELOW, 268_435_456_000],
    ['absolute seconds with ms fraction', 1276020076.001, 1276020076001],
  ])('%s', (_name, seconds, expected) => {
    expect(epochMsFromSenml(seconds, RECEIVED_AT)).toBe(expected);
  });

  it('rejects a relative time that lands before 1970', () => {
    expect(isTimeError(epochMsFromSenml(-(RECEIVED_AT / 1000) - 1, RECEIVED_AT))).toBe(true);
  });
});

describe('timestamps through normalize', () => {
  it.each([
    ['seconds', '1732492800.123'],
    ['milliseconds', '1732492800123'],
    ['microseconds', '1732492800123456'],
    ['nanoseconds', '1732492800123456789'],
    ['ISO-8601', '"2024-11-25T00:00:00.123Z"'],
    ['ISO-8601 with offset', '"2024-11-25T01:00:00.123+01:00"'],
  ])('JSON ts in %s becomes epoch ms', (_name, ts) => {
    expect(run(`{"a":1,"ts":${ts}}`).readings.map((r) => r.ts)).toStrictEqual([MS]);
  });

  it.each([
    ['seconds with a fraction, to the µs a double holds', '1732492800.123456', '1732492800123456000'],
    ['milliseconds', '1732492800123', '1732492800123000000'],
    ['microseconds', '1732492800123456', '1732492800123456000'],
    ['nanoseconds in a string, every digit kept', '"1732492800123456789"', '1732492800123456789'],
    ['ISO-8601 with nine fraction digits', '"2024-11-25T00:00:00.123456789Z"', '1732492800123456789'],
    ['ISO-8601 with an offset and a µs fraction', '"2024-11-25T01:00:00.123456+01:00"', '1732492800123456000'],
  ])('JSON ts in %s keeps its precision in timeNs', (_name, ts, timeNs) => {
    expect(run(`{"a":1,"ts":${ts}}`).readings).toStrictEqual([reading('a', 1, { ts: MS, timeNs })]);
  });

  it('line protocol nanoseconds are kept exactly, and ts is their floor', () => {
    const result = run('m v=1 1732492800123999999', `${BASE_TOPIC}/$line`);
    expect(result.readings.map((r) => [r.ts, r.timeNs])).toStrictEqual([[MS, '1732492800123999999']]);
  });

  it('SenML fractional seconds give µs, relative times count from the receive stamp', () => {
    const absolute = run('[{"n":"a","v":1,"t":1732492800.000125}]');
    expect(absolute.readings.map((r) => r.timeNs)).toStrictEqual(['1732492800000125000']);
    const stamp = BigInt(RECEIVED_AT) * 1_000_000n + 777n;
    const relative = run('[{"n":"a","v":1,"t":-0.5}]', BASE_TOPIC, undefined, stamp);
    expect(relative.readings.map((r) => r.timeNs)).toStrictEqual([(stamp - 500_000_000n).toString()]);
  });

  it('prefers ts over time over timestamp when several are present', () => {
    const result = run(`{"a":1,"timestamp":1,"time":2,"ts":${MS}}`);
    expect(result.readings).toStrictEqual([reading('a', 1, { ts: MS })]);
  });

  it('rejects an unparsable JSON time as BAD_TIMESTAMP', () => {
    expect(codes(run('{"a":1,"ts":"2024-02-30T00:00:00Z"}'))).toStrictEqual(['BAD_TIMESTAMP']);
  });
});
