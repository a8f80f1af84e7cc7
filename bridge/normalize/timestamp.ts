import { describe } from './rejections.js';
import { DECIMAL_NUMBER } from './validate.js';

/**
 * Device times → epoch milliseconds (the unit of `Reading.ts`, docs/contracts.md §5).
 *
 * Numeric times carry no unit, so the unit is read from the magnitude. The thresholds sit far from any plausible
 * "now" in every unit (now ≈ 1.7e9 s = 1.7e12 ms = 1.7e15 µs = 1.7e18 ns):
 *
 *   value < 1e11   seconds (fractions allowed)   — 1e11 s is the year 5138
 *   value < 1e14   milliseconds                  — 1e11 ms is March 1973
 *   value < 1e17   microseconds
 *   otherwise      nanoseconds
 *
 * The price: a millisecond time before March 1973 reads as seconds. Every unit is rounded to the nearest
 * millisecond (half up): rounding rather than truncating, because a float such as 1732492800.123 s times 1000 is
 * 1732492800122.9998 and truncation would lose a millisecond that the device did send.
 *
 * ISO-8601 strings (`2024-11-25T00:00:00.123Z`, date only, offsets `+01:00`/`+0100`/`+01`) are parsed by hand
 * instead of `Date.parse`, whose handling of odd forms is implementation-defined; a string without an offset is
 * taken as UTC so the result never depends on the gateway's time zone. Times before 1970 are rejected: no
 * device that reports through Sluice measured anything then, so such a value is a bug, not data.
 */

export interface TimeError {
  error: string;
}

/** A resolved time in epoch ms, or why the given time could not be used. */
export type TimeResult = number | TimeError;

export function isTimeError(value: TimeResult): value is TimeError {
  return typeof value === 'object';
}

const SECONDS_BELOW = 1e11;
const MILLIS_BELOW = 1e14;
const MICROS_BELOW = 1e17;

function checked(ms: number, what: string): TimeResult {
  if (!Number.isFinite(ms)) return { error: `${what} is out of range` };
  if (ms < 0) return { error: `${what} is before 1970` };
  return ms;
}

export function epochMsFromNumber(value: number): TimeResult {
  if (!Number.isFinite(value)) return { error: 'time is not a finite number' };
  if (value < 0) return { error: 'time is negative' };
  if (value < SECONDS_BELOW) return checked(Math.round(value * 1e3), 'time');
  if (value < MILLIS_BELOW) return checked(Math.round(value), 'time');
  if (value < MICROS_BELOW) return checked(Math.round(value / 1e3), 'time');
  return checked(Math.round(value / 1e6), 'time');
}

const DIGITS = /^-?\d+$/;

/**
 * Integer times written as text (line protocol). Nanosecond times exceed Number's 53-bit precision, so the
 * digits go through BigInt and only the millisecond result becomes a Number.
 */
export function epochMsFromDigits(text: string): TimeResult {
  if (!DIGITS.test(text)) return { error: 'time is not an integer' };
  if (text.startsWith('-')) return { error: 'time is negative' };
  const value = BigInt(text);
  if (value < BigInt(SECONDS_BELOW)) return Number(value) * 1e3;
  if (value < BigInt(MILLIS_BELOW)) return Number(value);
  if (value < BigInt(MICROS_BELOW)) return Number((value + 500n) / 1_000n);
  return checked(Number((value + 500_000n) / 1_000_000n), 'time');
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

export function epochMsFromIso(text: string): TimeResult {
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
  // Half-up rounding decided by the fourth fraction digit alone is exact: the value is ≥ .5 ms iff it is ≥ 5.
  const digits = fraction.padEnd(4, '0');
  const millis = Number(digits.slice(0, 3)) + (Number(digits[3]) >= 5 ? 1 : 0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  const offsetMs = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return checked(date.getTime() + millis - (sign === undefined ? 0 : offsetMs), 'time');
}

/** A `ts`/`time`/`timestamp` member of a JSON payload: a number in any unit, numeric text, or ISO-8601. */
export function epochMsFromJson(value: unknown): TimeResult {
  if (typeof value === 'number') return epochMsFromNumber(value);
  if (typeof value === 'string') {
    const text = value.trim();
    return DECIMAL_NUMBER.test(text) ? epochMsFromNumber(Number(text)) : epochMsFromIso(text);
  }
  return { error: `time must be a number or an ISO-8601 string, not ${describe(value)}` };
}

/** RFC 8428 §4.5.3: values below 2**28 are seconds relative to "now" (here: receipt), others are epoch seconds. */
export const SENML_RELATIVE_BELOW = 2 ** 28;

export function epochMsFromSenml(seconds: number, receivedAt: number): TimeResult {
  if (!Number.isFinite(seconds)) return { error: 'time is out of range' };
  if (seconds < SENML_RELATIVE_BELOW) return checked(receivedAt + Math.round(seconds * 1e3), 'relative time');
  return checked(Math.round(seconds * 1e3), 'time');
}
