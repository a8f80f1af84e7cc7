/**
 * SenML JSON (RFC 8428) → drafts.
 *
 * Resolution follows RFC 8428 §4.6: base fields carry forward to later records until a record changes them;
 * name = bn + n (§4.5.1), time = bt + t (§4.5.3), value = bv + v, sum = bs + s, unit = u, else bu (§4.5.2).
 * Time is in seconds; a resolved time below 2**28 is relative to the receive time (§4.5.3).
 *
 * Metric naming. The device id always comes from the connection, never from `bn`. A `bn` that ends in `:` or `/`
 * is a device prefix (`urn:dev:ow:10e2073a01080063:`, `device/`), so the metric is `n` alone; any other `bn` is
 * part of the name and the metric is `bn + n` (a record without `n` keeps the whole resolved name). The result
 * must still be a valid metric name (./validate.ts); `/` is not allowed in one, so names such as `3303/0/5700`
 * are rejected as INVALID_METRIC_NAME rather than rewritten.
 *
 * Values: `v` (number), `vs` (string), `vb` (boolean) and `vd` (data; kept as the base64 text as given, as a
 * string). A record with a sum `s` also emits `<metric>_sum`. `ut` is accepted and ignored.
 *
 * Rejections. Problems that break resolution of the whole pack reject the whole message as INVALID_SENML:
 * the payload is not an array, a base field has the wrong type, `bver` is newer than 10 (§4.1, §4.4: a reader
 * MUST NOT use a pack of a newer version) or differs between records (§4.4: one version per pack), or a
 * must-understand field (label ending in `_`, §4.4) is present. Everything else is per record, with
 * index = record position: that record is rejected and the others are kept.
 * A record holding only base fields sets context for the records after it and yields nothing by itself.
 */
import { describe, quote } from './rejections.js';
import { epochNsFromSenml, isTimeError } from './timestamp.js';
import { isPlainObject, type ParseContext, type Problem } from './validate.js';

const BASE_FIELDS = ['bn', 'bt', 'bu', 'bv', 'bs', 'bver'] as const;
const REGULAR_FIELDS = ['n', 'u', 'v', 'vs', 'vb', 'vd', 's', 't', 'ut'] as const;
const SENML_FIELDS: ReadonlySet<string> = new Set([...BASE_FIELDS, ...REGULAR_FIELDS]);
/** Fields that only a SenML record would carry; `t`, `u` and `ut` alone are too generic to decide on. */
const SENML_MARKERS: readonly string[] = ['n', 'bn', 'v', 'vs', 'vb', 'vd', 's', 'bt'];
const VALUE_FIELDS = ['v', 'vs', 'vb', 'vd'] as const;
/** RFC 8428 §4.1: the version this representation defines, and the default when `bver` is absent. */
const SENML_VERSION = 10;

const BASE_TYPES: Record<(typeof BASE_FIELDS)[number], 'string' | 'number'> = {
  bn: 'string',
  bt: 'number',
  bu: 'string',
  bv: 'number',
  bs: 'number',
  bver: 'number',
};

/**
 * Content detection for an array: SenML when every element is an object made only of SenML fields and at least
 * one of them carries a SenML marker. So `[{"v":1}]` is SenML, and `[{"temperature":1}]` is a JSON array.
 */
export function looksLikeSenml(document: unknown): boolean {
  if (!Array.isArray(document) || document.length === 0) return false;
  let marked = false;
  for (const record of document) {
    if (!isPlainObject(record)) return false;
    for (const key of Object.keys(record)) {
      if (!SENML_FIELDS.has(key)) return false;
      if (SENML_MARKERS.includes(key)) marked = true;
    }
  }
  return marked;
}

function own(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Pack-level checks, done before any record is resolved, because they make every record's meaning unknown. */
function packProblem(pack: unknown[]): Problem | undefined {
  let packVersion: unknown;
  for (const [index, record] of pack.entries()) {
    if (!isPlainObject(record)) continue;
    for (const key of Object.keys(record)) {
      if (key.endsWith('_')) {
        const reason = `record ${index} has must-understand field ${quote(key)} (RFC 8428 §4.4)`;
        return { code: 'INVALID_SENML', reason };
      }
    }
    for (const field of BASE_FIELDS) {
      const value = own(record, field);
      if (value !== undefined && typeof value !== BASE_TYPES[field]) {
        return { code: 'INVALID_SENML', reason: `record ${index}: base field ${field} is ${describe(value)}` };
      }
    }
    const version = own(record, 'bver');
    if (version !== undefined && (!Number.isSafeInteger(version) || (version as number) < 1)) {
      return { code: 'INVALID_SENML', reason: `record ${index}: bver must be a positive integer` };
    }
    if (typeof version === 'number' && version > SENML_VERSION) {
      return { code: 'INVALID_SENML', reason: `SenML version ${version} is newer than ${SENML_VERSION}` };
    }
    // §4.4: all records of a pack share one version.
    if (version !== undefined && packVersion !== undefined && version !== packVersion) {
      const reason = `record ${index}: bver ${String(version)} differs from ${String(packVersion)}`;
      return { code: 'INVALID_SENML', reason };
    }
    packVersion ??= version;
  }
  return undefined;
}

interface Base {
  name: string;
  time: number;
  unit?: string;
  value: number;
  sum: number;
}

export function normalizeSenml(document: unknown, context: ParseContext): void {
  const { sink } = context;
  if (!Array.isArray(document)) {
    sink.reject('INVALID_SENML', `a SenML pack is a JSON array, not ${describe(document)}`);
    return;
  }
  const problem = packProblem(document);
  if (problem) {
    sink.reject(problem.code, problem.reason);
    return;
  }
  const base: Base = { name: '', time: 0, value: 0, sum: 0 };
  document.forEach((record: unknown, index) => {
    if (!isPlainObject(record)) {
      sink.reject('INVALID_SENML', `record is ${describe(record)}, not an object`, index);
      return;
    }
    // Base fields apply from this record on (RFC 8428 §4.6), even when the record itself is rejected below.
    const bn = own(record, 'bn');
    const bt = own(record, 'bt');
    const bu = own(record, 'bu');
    const bv = own(record, 'bv');
    const bs = own(record, 'bs');
    if (typeof bn === 'string') base.name = bn;
    if (typeof bt === 'number') base.time = bt;
    if (typeof bu === 'string') base.unit = bu;
    if (typeof bv === 'number') base.value = bv;
    if (typeof bs === 'number') base.sum = bs;
    const keys = Object.keys(record);
    if (keys.length > 0 && keys.every((key) => key.startsWith('b'))) return;
    resolveRecord(record, base, index, context);
  });
}

function resolveRecord(record: Record<string, unknown>, base: Base, index: number, context: ParseContext): void {
  const { sink } = context;
  const n = own(record, 'n');
  if (n !== undefined && typeof n !== 'string') {
    sink.reject('INVALID_SENML', `n must be a string, not ${describe(n)}`, index);
    return;
  }
  const name = base.name + (n ?? '');
  if (name === '') {
    sink.reject('INVALID_SENML', 'record has no name: neither bn nor n is set (RFC 8428 §4.5.1)', index);
    return;
  }
  const metric = n && /[:/]$/.test(base.name) ? n : name;
  const u = own(record, 'u');
  if (u !== undefined && typeof u !== 'string') {
    sink.reject('INVALID_SENML', `u of ${quote(name)} must be a string, not ${describe(u)}`, index);
    return;
  }
  const unit = u ?? base.unit;
  const present = VALUE_FIELDS.filter((field) => Object.hasOwn(record, field));
  if (present.length > 1) {
    sink.reject('INVALID_SENML', `${quote(name)} has more than one value field (${present.join(', ')})`, index);
    return;
  }
  const sum = own(record, 's');
  if (sum !== undefined && typeof sum !== 'number') {
    sink.reject('INVALID_SENML', `s of ${quote(name)} must be a number, not ${describe(sum)}`, index);
    return;
  }
  const field = present[0];
  if (field === undefined && sum === undefined) {
    sink.reject('INVALID_SENML', `${quote(name)} has neither a value nor a sum`, index);
    return;
  }
  let value: number | string | boolean | undefined;
  if (field !== undefined) {
    const raw = record[field];
    const expected = field === 'v' ? 'number' : field === 'vb' ? 'boolean' : 'string';
    if (typeof raw !== expected) {
      sink.reject('INVALID_SENML', `${field} of ${quote(name)} must be a ${expected}, not ${describe(raw)}`, index);
      return;
    }
    value = field === 'v' ? base.value + (raw as number) : (raw as string | boolean);
  }
  const t = own(record, 't');
  if (t !== undefined && typeof t !== 'number') {
    sink.reject('BAD_TIMESTAMP', `t of ${quote(name)} must be a number of seconds, not ${describe(t)}`, index);
    return;
  }
  // A record with neither `t` nor `bt` means "now" (RFC 8428 §4.5.3): it has no time of the device's own and gets
  // the receive stamp like any untimed reading, so the records of one pack keep apart in their order.
  const untimed = t === undefined && base.time === 0;
  const time = untimed ? undefined : epochNsFromSenml(base.time + (t ?? 0), context.receivedAt, context.receivedAtNs);
  if (time !== undefined && isTimeError(time)) {
    sink.reject('BAD_TIMESTAMP', `${quote(name)}: ${time.error}`, index);
    return;
  }
  const shared = { ...(unit === undefined ? {} : { unit }), ...(time === undefined ? {} : { time }), index };
  if (value !== undefined) sink.draft({ metric, value, ...shared });
  if (sum !== undefined) sink.draft({ metric: `${metric}_sum`, value: base.sum + sum, ...shared });
}
