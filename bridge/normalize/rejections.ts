/**
 * Why a payload, or one part of it, did not become readings. The codes are stable: the dead-letter topic,
 * metrics and tests branch on them, so add new ones at the end and never rename.
 */
export const REJECTION_CODES = [
  'PAYLOAD_TOO_LARGE',
  'EMPTY_PAYLOAD',
  'INVALID_UTF8',
  'INVALID_JSON',
  'UNKNOWN_FORMAT',
  'INVALID_SENML',
  'INVALID_LINE_PROTOCOL',
  'INVALID_METRIC_NAME',
  'NON_FINITE_NUMBER',
  'STRING_TOO_LONG',
  'TOO_MANY_READINGS',
  'TOO_DEEP',
  'BAD_TIMESTAMP',
  'UNSUPPORTED_VALUE',
  'NO_READINGS',
  'TOPIC_NOT_TELEMETRY',
  'DUPLICATE_TIME',
] as const;

export type RejectionCode = (typeof REJECTION_CODES)[number];

export interface Rejection {
  code: RejectionCode;
  /** Human-readable; quotes payload text only in truncated form, so a hostile payload cannot bloat logs. */
  reason: string;
  /**
   * Which part of the message was rejected, 0-based: the element of a top-level JSON array, the entry of
   * `readings`, the SenML record, or the physical line of line protocol (blank and comment lines count).
   * Absent when the rejection concerns the whole message or its single top-level object.
   */
  index?: number;
}

const QUOTE_LIMIT = 64;

/** JSON-quotes payload-derived text for a reason, cut to a bounded length. */
export function quote(text: string): string {
  const cut = text.length > QUOTE_LIMIT ? `${text.slice(0, QUOTE_LIMIT)}…` : text;
  return JSON.stringify(cut);
}

export function rejection(code: RejectionCode, reason: string, index?: number): Rejection {
  return index === undefined ? { code, reason } : { code, reason, index };
}

/** Names a JSON value's kind for a reason ("an object", "null", "a string"). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
