import type { Reading } from '../../core/reading.js';
import type { NormalizeOptions } from './options.js';
import { msOfNs as msOfTime } from '../../core/precise-clock.js';
import { describe, quote, rejection, type Rejection, type RejectionCode } from './rejections.js';

/**
 * Metric names and tag keys: a letter or `_`, then letters, digits, `_`, `.`, `:` or `-`. This keeps names valid
 * as InfluxDB measurements and Prometheus-style series names (docs/contracts.md §15: `{measurement}_{field}`) without
 * escaping, and excludes `/`, spaces and `,`, which would need escaping in line protocol and MQTT topics.
 */
export const METRIC_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

/**
 * A decimal number as text. Written so that no two parts can match the same digits: the tempting
 * `\d+\.?\d*` lets the regex engine split a digit run in n ways, which turned a 64 KiB run of digits followed
 * by one letter into seconds of backtracking per message.
 */
export const DECIMAL_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Tag keys a payload may not set: `device` is the tag the writer derives from the authenticated connection
 * (docs/contracts.md §5), so accepting it from a payload would let a device file readings under another device's name;
 * `ts_corrected` is set only by the normalizer.
 */
export const RESERVED_TAG_KEYS: readonly string[] = ['device', 'ts_corrected'];

export interface Problem {
  code: RejectionCode;
  reason: string;
}

/** Tags, or why they were refused; a union with a tag key named "code" must not be mistaken for a problem. */
export type TagsResult = { tags: Record<string, string> } | { problem: Problem };

function refuse(code: RejectionCode, reason: string): TagsResult {
  return { problem: { code, reason } };
}

/** A reading as a format parser found it, before the checks every format shares. */
export interface Draft {
  metric: string;
  value: number | boolean | string;
  unit?: string;
  /** Device time in epoch ns; absent when the payload gave none. */
  time?: bigint;
  tags?: Record<string, string>;
  index?: number;
}

export type Part = { draft: Draft } | { rejection: Rejection };

/** Thrown by a sink that is full; caught by `normalize` to reject the whole message. */
export class TooManyParts extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} readings`);
  }
}

export interface PartSink {
  readonly parts: readonly Part[];
  draft(draft: Draft): void;
  reject(code: RejectionCode, reason: string, index?: number): void;
}

/** Collects parts in message order and stops a parser as soon as the message has too many, bounding work. */
export function createPartSink(limit: number): PartSink {
  const parts: Part[] = [];
  const push = (part: Part): void => {
    if (parts.length >= limit) throw new TooManyParts(limit);
    parts.push(part);
  };
  return {
    parts,
    draft: (draft) => push({ draft }),
    reject: (code, reason, index) => push({ rejection: rejection(code, reason, index) }),
  };
}

export function metricNameProblem(name: string, options: NormalizeOptions, what = 'metric'): string | undefined {
  if (name.length > options.maxMetricNameLength) {
    return `${what} ${quote(name)} is longer than ${options.maxMetricNameLength} characters`;
  }
  if (!METRIC_NAME_PATTERN.test(name)) {
    return `${what} ${quote(name)} is not a valid name (allowed: ${METRIC_NAME_PATTERN.source})`;
  }
  return undefined;
}

/** Code points, not UTF-16 units, so an emoji counts as one character as users expect. */
export function exceedsLength(text: string, max: number): boolean {
  if (text.length <= max) return false;
  let count = 0;
  for (const _ of text) {
    count += 1;
    if (count > max) return true;
  }
  return false;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Tag values may arrive as numbers or booleans (JSON) and are stringified; empty values are dropped because
 * InfluxDB treats an empty tag as an absent one. Built with Object.fromEntries so a key named `__proto__`
 * becomes an own property instead of replacing the prototype.
 */
export function tagsFromEntries(
  entries: Iterable<readonly [string, unknown]>,
  options: NormalizeOptions,
): TagsResult {
  const tags: [string, string][] = [];
  for (const [key, raw] of entries) {
    const keyProblem = metricNameProblem(key, options, 'tag key');
    if (keyProblem) return refuse('UNSUPPORTED_VALUE', keyProblem);
    if (RESERVED_TAG_KEYS.includes(key)) {
      return refuse('UNSUPPORTED_VALUE', `tag key ${quote(key)} is reserved for the gateway`);
    }
    let value: string;
    if (typeof raw === 'string') value = raw;
    else if (typeof raw === 'boolean') value = String(raw);
    else if (typeof raw === 'number') {
      if (!Number.isFinite(raw)) return refuse('NON_FINITE_NUMBER', `tag ${quote(key)} is not finite`);
      value = String(raw);
    } else {
      const kind = describe(raw);
      return refuse('UNSUPPORTED_VALUE', `tag ${quote(key)} must be a string, number or boolean, not ${kind}`);
    }
    if (exceedsLength(value, options.maxStringLength)) {
      return refuse('STRING_TOO_LONG', `tag ${quote(key)} is longer than ${options.maxStringLength} characters`);
    }
    if (value !== '') tags.push([key, value]);
  }
  return { tags: Object.fromEntries(tags) };
}

export function tagsFromJson(raw: unknown, options: NormalizeOptions): TagsResult {
  if (!isPlainObject(raw)) {
    return refuse('UNSUPPORTED_VALUE', `tags must be an object, not ${describe(raw)}`);
  }
  return tagsFromEntries(Object.entries(raw), options);
}

export interface FinalizeContext {
  deviceId: string;
  receivedAt: number;
  /** The publish's receive stamp (core/precise-clock.ts); untimed readings are `receivedAtNs + untimedIndex`. */
  receivedAtNs: bigint;
  options: NormalizeOptions;
}

/** A finished reading, and whether its time is the device's (duplicate checks apply) or the receive stamp. */
export interface Finalized {
  reading: Reading;
  deviceTimed: boolean;
}

/** The checks every format shares; returns the finished reading or the one rejection for this part. */
export function finalizeDraft(draft: Draft, context: FinalizeContext, untimedIndex: number): Finalized | Rejection {
  const { options, receivedAt } = context;
  const nameProblem = metricNameProblem(draft.metric, options);
  if (nameProblem) return rejection('INVALID_METRIC_NAME', nameProblem, draft.index);
  const { value } = draft;
  if (typeof value === 'number' && !Number.isFinite(value)) {
    const reason = `${quote(draft.metric)} is ${String(value)}, not a finite number`;
    return rejection('NON_FINITE_NUMBER', reason, draft.index);
  }
  if (typeof value === 'string' && exceedsLength(value, options.maxStringLength)) {
    return rejection(
      'STRING_TOO_LONG',
      `${quote(draft.metric)} is a string longer than ${options.maxStringLength} characters`,
      draft.index,
    );
  }
  const unit = draft.unit === '' ? undefined : draft.unit;
  if (unit !== undefined && exceedsLength(unit, options.maxStringLength)) {
    return rejection('STRING_TOO_LONG', `unit of ${quote(draft.metric)} is too long`, draft.index);
  }
  let time = draft.time;
  let tags = draft.tags;
  if (time !== undefined && msOfTime(time) > receivedAt + options.maxFutureSkewMs) {
    time = undefined;
    tags = { ...tags, ts_corrected: 'future' };
  }
  const deviceTimed = time !== undefined;
  // Untimed readings take the receive stamp plus their place among the payload's untimed readings: one
  // nanosecond apart, in payload order, inside the range the clock reserved for this publish.
  const timeNs = time ?? context.receivedAtNs + BigInt(untimedIndex);
  return {
    deviceTimed,
    reading: {
      deviceId: context.deviceId,
      metric: draft.metric,
      value,
      ...(unit === undefined ? {} : { unit }),
      ts: msOfTime(timeNs),
      timeNs: timeNs.toString(),
      receivedAt,
      ...(tags && Object.keys(tags).length > 0 ? { tags } : {}),
    },
  };
}

/** What every format parser is handed: the options, the receive time (for relative times) and where parts go. */
export interface ParseContext {
  options: NormalizeOptions;
  receivedAt: number;
  /** The receive stamp in epoch ns: "now" for relative SenML times. */
  receivedAtNs: bigint;
  sink: PartSink;
}
