/**
 * InfluxDB line protocol → drafts.
 *
 *   measurement[,tag=value…] field=value[,field=value…] [timestamp]
 *
 * Metric naming (one rule): a field named `value` becomes the metric `measurement`; any other field becomes
 * `measurement_field`. This inverts the storage mapping of docs/contracts.md §5 (measurement = metric, field `value`),
 * so a point read back from InfluxDB and re-sent keeps its metric, and it matches the `{measurement}_{field}`
 * series names of the InfluxDB-compatible store (docs/contracts.md §15):
 *
 *   temperature,room=a value=21.5      → temperature        {room: "a"}
 *   env,room=a temp=21.5,hum=40i       → env_temp, env_hum  {room: "a"}
 *
 * Syntax: `\` escapes `,` and space in the measurement; `,`, `=` and space in tag keys, tag values and field
 * keys; `"` and `\` inside string field values. A `\` before any other character is literal (as in InfluxDB).
 * Field values: floats (`1`, `-1.5e3`), integers `42i` (signed 64-bit), unsigned `42u`, booleans
 * (t/T/true/True/TRUE and f/F/false/False/FALSE) and double-quoted strings. `NaN`/`inf`/`Infinity` (any case,
 * signed) and overflowing floats such as `1e999` parse but are rejected as NON_FINITE_NUMBER. 64-bit integers
 * beyond ±2**53 become the nearest Number.
 * The timestamp is an integer whose unit is read from its magnitude (./timestamp.ts; InfluxDB's default
 * nanoseconds are the common case), parsed through BigInt so nanosecond precision is not lost on the way.
 * Lines are split on `\n` (a trailing `\r` is dropped), so string fields cannot contain raw newlines; blank
 * lines and lines starting with `#` are skipped.
 *
 * Rejections carry the 0-based physical line index. A syntax error rejects the line (INVALID_LINE_PROTOCOL);
 * a bad timestamp or bad tags reject all fields of the line once; a bad field value or name rejects that field.
 */
import { quote } from './rejections.js';
import { epochNsFromDigits, isTimeError } from './timestamp.js';
import { DECIMAL_NUMBER, tagsFromEntries, type ParseContext } from './validate.js';

interface FieldToken {
  key: string;
  value: number | boolean | string;
}

interface LineToken {
  measurement: string;
  tags: [string, string][];
  fields: FieldToken[];
  timestamp?: string;
}

export interface ParsedLine {
  index: number;
  line?: LineToken;
  error?: string;
}

export interface LineProtocolDocument {
  lines: ParsedLine[];
  /** True when at least one line is well-formed: what content detection asks of "parses as line protocol". */
  anyValid: boolean;
}

const MEASUREMENT_ESCAPES = ', \\';
const KEY_ESCAPES = ',= \\';
const TRUE_WORDS: ReadonlySet<string> = new Set(['t', 'T', 'true', 'True', 'TRUE']);
const FALSE_WORDS: ReadonlySet<string> = new Set(['f', 'F', 'false', 'False', 'FALSE']);
const NON_FINITE = /^([+-]?)(?:nan|inf|infinity)$/i;
const INT = /^[+-]?\d+i$/;
const UINT = /^\d+u$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

class SyntaxProblem extends Error {}

function fail(message: string): never {
  throw new SyntaxProblem(message);
}

/** Reads up to the first unescaped stop character; returns the unescaped text and where it stopped. */
function readEscaped(line: string, start: number, stops: string, escapable: string): [string, number] {
  let text = '';
  let i = start;
  while (i < line.length) {
    const c = line.charAt(i);
    const next = line.charAt(i + 1);
    if (c === '\\' && next !== '' && escapable.includes(next)) {
      text += next;
      i += 2;
    } else if (stops.includes(c)) {
      break;
    } else {
      text += c;
      i += 1;
    }
  }
  return [text, i];
}

function fieldValue(key: string, raw: string): number | boolean {
  if (INT.test(raw)) {
    const big = BigInt(raw.slice(0, -1));
    if (big < INT64_MIN || big > INT64_MAX) fail(`field ${quote(key)}: integer ${quote(raw)} is outside 64 bits`);
    return Number(big);
  }
  if (UINT.test(raw)) {
    const big = BigInt(raw.slice(0, -1));
    if (big > UINT64_MAX) fail(`field ${quote(key)}: unsigned ${quote(raw)} is outside 64 bits`);
    return Number(big);
  }
  if (TRUE_WORDS.has(raw)) return true;
  if (FALSE_WORDS.has(raw)) return false;
  if (DECIMAL_NUMBER.test(raw)) return Number(raw);
  const nonFinite = NON_FINITE.exec(raw);
  if (nonFinite) {
    if (/nan/i.test(raw)) return Number.NaN;
    return nonFinite[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  return fail(`field ${quote(key)} has an invalid value ${quote(raw)}`);
}

function readString(line: string, start: number): [string, number] {
  let text = '';
  let i = start + 1;
  while (i < line.length) {
    const c = line.charAt(i);
    const next = line.charAt(i + 1);
    if (c === '\\' && (next === '"' || next === '\\')) {
      text += next;
      i += 2;
    } else if (c === '"') {
      return [text, i + 1];
    } else {
      text += c;
      i += 1;
    }
  }
  return fail('unterminated string field value');
}

function skipSpaces(line: string, start: number): number {
  let i = start;
  while (line.charAt(i) === ' ') i += 1;
  return i;
}

function parseLine(line: string): LineToken {
  const [measurement, afterMeasurement] = readEscaped(line, 0, ', ', MEASUREMENT_ESCAPES);
  if (measurement === '') fail('missing measurement');
  let i = afterMeasurement;
  const tags: [string, string][] = [];
  while (line.charAt(i) === ',') {
    const [key, afterKey] = readEscaped(line, i + 1, '=, ', KEY_ESCAPES);
    if (line.charAt(afterKey) !== '=') fail(`tag ${quote(key)} has no "="`);
    const [value, afterValue] = readEscaped(line, afterKey + 1, ', ', KEY_ESCAPES);
    if (key === '' || value === '') fail('tag key and value must not be empty');
    tags.push([key, value]);
    i = afterValue;
  }
  if (line.charAt(i) !== ' ') fail('missing field set');
  i = skipSpaces(line, i);
  const fields: FieldToken[] = [];
  for (;;) {
    const [key, afterKey] = readEscaped(line, i, '=, ', KEY_ESCAPES);
    if (key === '') fail('field key must not be empty');
    if (line.charAt(afterKey) !== '=') fail(`field ${quote(key)} has no "="`);
    i = afterKey + 1;
    if (line.charAt(i) === '"') {
      const [text, afterString] = readString(line, i);
      fields.push({ key, value: text });
      i = afterString;
    } else {
      const [raw, afterRaw] = readEscaped(line, i, ', ', '');
      if (raw === '') fail(`field ${quote(key)} has no value`);
      fields.push({ key, value: fieldValue(key, raw) });
      i = afterRaw;
    }
    if (line.charAt(i) !== ',') break;
    i += 1;
  }
  if (i >= line.length) return { measurement, tags, fields };
  if (line.charAt(i) !== ' ') fail(`unexpected ${quote(line.charAt(i))} after the field set`);
  const timestamp = line.slice(skipSpaces(line, i));
  if (timestamp.includes(' ')) fail('unexpected text after the timestamp');
  return timestamp === '' ? { measurement, tags, fields } : { measurement, tags, fields, timestamp };
}

export function tokenizeLineProtocol(text: string): LineProtocolDocument {
  const lines: ParsedLine[] = [];
  let anyValid = false;
  text.split('\n').forEach((physical, index) => {
    const trimmed = physical.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    try {
      lines.push({ index, line: parseLine(trimmed) });
      anyValid = true;
    } catch (error) {
      if (!(error instanceof SyntaxProblem)) throw error;
      lines.push({ index, error: error.message });
    }
  });
  return { lines, anyValid };
}

export function lineMetric(measurement: string, field: string): string {
  return field === 'value' ? measurement : `${measurement}_${field}`;
}

export function normalizeLineProtocol(document: LineProtocolDocument, context: ParseContext): void {
  const { sink, options } = context;
  for (const { index, line, error } of document.lines) {
    if (!line) {
      sink.reject('INVALID_LINE_PROTOCOL', error ?? 'invalid line', index);
      continue;
    }
    let ts: bigint | undefined;
    if (line.timestamp !== undefined) {
      const time = epochNsFromDigits(line.timestamp);
      if (isTimeError(time)) {
        sink.reject('BAD_TIMESTAMP', `timestamp ${quote(line.timestamp)}: ${time.error}`, index);
        continue;
      }
      ts = time;
    }
    const result = tagsFromEntries(line.tags, options);
    if ('problem' in result) {
      sink.reject(result.problem.code, result.problem.reason, index);
      continue;
    }
    const { tags } = result;
    for (const field of line.fields) {
      sink.draft({
        metric: lineMetric(line.measurement, field.key),
        value: field.value,
        ...(ts === undefined ? {} : { time: ts }),
        tags,
        index,
      });
    }
  }
}
