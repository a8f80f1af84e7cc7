import { describe } from './rejections.js';
import { DECIMAL_NUMBER } from './validate.js';

/**
 * Device times → epoch nanoseconds (`Reading.timeNs`, docs/contracts.md §5), and the epoch milliseconds of
 * `Reading.ts`, which is always the precise time floored to the millisecond.
 *
 * Numeric times carry no unit, so the unit is read from the magnitude. The thresholds sit far from any plausible
 * "now" in every unit (now ≈ 1.7e9 s = 1.7e12 ms = 1.7e15 µs = 1.7e18 ns):
 *
 *   value < 1e11   seconds (fractions allowed)   — 1e11 s is the year 5138
 *   value < 1e14   milliseconds                  — 1e11 ms is March 1973
 *   value < 1e17   microseconds
 *   otherwise      nanoseconds
 *
 * The price: a millisecond time before March 1973 reads as seconds. Precision is kept as far as the input holds
 * it: integer text (line protocol, numeric strings without a fraction) and ISO-8601 fraction digits go through
 * BigInt to the nanosecond; a JSON or SenML number is a double, which near today holds about 0.24 µs of a time in
 * seconds, so numbers are rounded to the nearest microsecond (nanosecond numbers are taken as the double holds
 * them). Rounding there rather than truncating, because a float such as 1732492800.123 s times 1e6 is
 * 1732492800122999.9 and truncation would lose the microsecond the device did send; the millisecond `ts` is then
 * the floor of the precise time, so `ts === floor(timeNs / 1e6)` always holds.
 *
 * ISO-8601 strings (`2024-11-25T00:00:00.123Z`, date only, offsets `+01:00`/`+0100`/`+01`) are parsed by hand
 * instead of `Date.parse`, whose handling of odd forms is implementation-defined; a string without an offset is
 * taken as UTC so the result never depends on the gateway's time zone. Times before 1970 are rejected: no
 * device that reports through Sluice measured anything then, so such a value is a bug, not data. Times far in the
 * future are resolved here and corrected by the normalizer (./validate.ts, `maxFutureSkewMs`).
 */

export interface TimeError {
  error: string;
}

/** A resolved time in epoch ns, or why the given time could not be used. */
export type TimeNsResult = bigint | TimeError;
/** A resolved time in epoch ms (the floor of the ns time), or why the given time could not be used. */
export type TimeResult = number | TimeError;

export function isTimeError(value: TimeResult | TimeNsResult): value is TimeError {
  return typeof value === 'object';
}

const SECONDS_BELOW = 1e11;
const MILLIS_BELOW = 1e14;
const MICROS_BELOW = 1e17;
const NS_PER_MS = 1_000_000n;
const NS_PER_US = 1_000n;

/** Epoch ms of a precise time: the floor, as a Number. */
export function msOfTime(ns: bigint): number {
  return Number(ns / NS_PER_MS);
}

function checked(ns: bigint, what: string): TimeNsResult {
  if (ns < 0n) return { error: `${what} is before 1970` };
  if (!Number.isFinite(msOfTime(ns))) return { error: `${what} is out of range` };
  return ns;
}

/** A double rounded to the nearest integer, as a BigInt; undefined when it is not finite. */
function roundedBig(value: number): bigint | undefined {
  const rounded = Math.round(value);
  return Number.isFinite(rounded) ? BigInt(rounded) : undefined;
}

export function epochNsFromNumber(value: number): TimeNsResult {
  if (!Number.isFinite(value)) return { error: 'time is not a finite number' };
  if (value < 0) return { error: 'time is negative' };
  let us: bigint | undefined;
  if (value < SECONDS_BELOW) us = roundedBig(value * 1e6);
  else if (value < MILLIS_BELOW) us = roundedBig(value * 1e3);
  else if (value < MICROS_BELOW) us = roundedBig(value);
  else return checked(BigInt(Math.round(value)), 'time');
  return us === undefined ? { error: 'time is out of range' } : checked(us * NS_PER_US, 'time');
}

const DIGITS = /^-?\d+$/;

/**
 * Integer times written as text (line protocol). Nanosecond times exceed Number's 53-bit precision, so the
 * digits go through BigInt and stay exact.
 */
export function epochNsFromDigits(text: string): TimeNsResult {
  if (!DIGITS.test(text)) return { error: 'time is not an integer' };
  if (text.startsWith('-')) return { error: 'time is negative' };
  const value = BigInt(text);
  if (value < BigInt(SECONDS_BELOW)) return value * 1_000_000_000n;
  if (value < BigInt(MILLIS_BELOW)) return value * NS_PER_MS;
  if (value < BigInt(MICROS_BELOW)) return value * NS_PER_US;
  return checked(value, 'time');
}

const ISO_8601 = new RegExp(
  [
    '^(\\d{4})-(\\d{2})-(\\d{2})', // date
    '(?:[Tt ](\\d{2}):(\\d{2})(?::(\\d{2})(?:[.,](\\d{1,9}))?)?)?', // time, seconds and fraction optional
    '(?:([Zz])|([+-])(\\d{2})(?::?(\\d{2}))?)?$', // Z, ±hh, ±hhmm or ±hh:mm; none means UTC
  ].join(''),
);

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

export function epochNsFromIso(text: string): TimeNsResult {
  const match = ISO_8601.exec(text);
  if (!match) return { error: `time ${JSON.stringify(text.slice(0, 40))} is not ISO-8601` };
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', , sign, offH = '0', offM = '0'] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const offsetHours = Number(offH);
  const offsetMinutes = Number(offM);
  if (
    month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
    hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59
  ) {
    return { error: `time ${JSON.stringify(text)} is not a valid date` };
  }
  // The fraction digits are exact decimal nanoseconds: no float on the way.
  const fractionNs = BigInt(fraction.padEnd(9, '0'));
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  const offsetMs = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const wholeMs = date.getTime() - (sign === undefined ? 0 : offsetMs);
  return checked(BigInt(wholeMs) * NS_PER_MS + fractionNs, 'time');
}

/** A `ts`/`time`/`timestamp` member of a JSON payload: a number in any unit, numeric text, or ISO-8601. */
export function epochNsFromJson(value: unknown): TimeNsResult {
  if (typeof value === 'number') return epochNsFromNumber(value);
  if (typeof value === 'string') {
    const text = value.trim();
    // Integer text keeps every digit (a nanosecond time in a string is exact); other numbers go through a double.
    if (DIGITS.test(text)) return epochNsFromDigits(text);
    return DECIMAL_NUMBER.test(text) ? epochNsFromNumber(Number(text)) : epochNsFromIso(text);
  }
  return { error: `time must be a number or an ISO-8601 string, not ${describe(value)}` };
}

/** RFC 8428 §4.5.3: values below 2**28 are seconds relative to "now" (here: receipt), others are epoch seconds. */
export const SENML_RELATIVE_BELOW = 2 ** 28;

/** `receivedAtNs`, when given, is "now" for relative times at the precision of the receive stamp. */
export function epochNsFromSenml(seconds: number, receivedAt: number, receivedAtNs?: bigint): TimeNsResult {
  if (!Number.isFinite(seconds)) return { error: 'time is out of range' };
  if (seconds < SENML_RELATIVE_BELOW) {
    const us = roundedBig(seconds * 1e6);
    if (us === undefined) return { error: 'relative time is out of range' };
    return checked((receivedAtNs ?? BigInt(receivedAt) * NS_PER_MS) + us * NS_PER_US, 'relative time');
  }
  return epochNsFromNumber(seconds);
}

function inMs(result: TimeNsResult): TimeResult {
  return isTimeError(result) ? result : msOfTime(result);
}

/** The millisecond forms: the floor of the precise time (`Reading.ts`). */
export const epochMsFromNumber = (value: number): TimeResult => inMs(epochNsFromNumber(value));
export const epochMsFromDigits = (text: string): TimeResult => inMs(epochNsFromDigits(text));
export const epochMsFromIso = (text: string): TimeResult => inMs(epochNsFromIso(text));
export const epochMsFromJson = (value: unknown): TimeResult => inMs(epochNsFromJson(value));
export const epochMsFromSenml = (seconds: number, receivedAt: number): TimeResult => inMs(epochNsFromSenml(seconds, receivedAt));
