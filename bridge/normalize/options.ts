import { ErrorCodes, sluiceError } from '../../core/errors.js';
import { MAX_READINGS_PER_MESSAGE } from '../../core/precise-clock.js';
import { PAYLOAD_FORMATS, type PayloadFormat } from '../../core/reading.js';

export interface NormalizeOptions {
  /** Larger payloads are rejected before decoding, so the cost of a message is bounded up front. */
  maxPayloadBytes: number;
  /** Parts (readings and rejected parts) one message may carry; more rejects the whole message. */
  maxReadingsPerMessage: number;
  /** Longest string value, tag value or unit, in Unicode code points. */
  maxStringLength: number;
  /** Deepest JSON container nesting; the top-level object or array is depth 1. */
  maxNestingDepth: number;
  /** Longest metric name or tag key, in characters. */
  maxMetricNameLength: number;
  /** Device times later than receivedAt + this are replaced by receivedAt and tagged `ts_corrected: "future"`. */
  maxFutureSkewMs: number;
  /** Skips topic suffixes and content detection: every payload is read as this format. */
  formatOverride?: PayloadFormat;
}

export const defaultNormalizeOptions: Readonly<NormalizeOptions> = Object.freeze({
  maxPayloadBytes: 65_536,
  maxReadingsPerMessage: MAX_READINGS_PER_MESSAGE,
  maxStringLength: 256,
  maxNestingDepth: 8,
  maxMetricNameLength: 128,
  maxFutureSkewMs: 5 * 60 * 1_000,
});

const POSITIVE_INTEGER_OPTIONS = [
  'maxPayloadBytes',
  'maxReadingsPerMessage',
  'maxStringLength',
  'maxNestingDepth',
  'maxMetricNameLength',
] as const;

/**
 * Merges overrides over the defaults, validates once and freezes, so `normalize` can trust its options on the
 * hot path. Throws a `CONFIG_INVALID` error naming every bad option: this runs at start-up, not per message.
 */
export function createNormalizeOptions(overrides: Partial<NormalizeOptions> = {}): Readonly<NormalizeOptions> {
  const merged: NormalizeOptions = { ...defaultNormalizeOptions, ...overrides };
  const problems: string[] = [];
  for (const key of POSITIVE_INTEGER_OPTIONS) {
    const value = merged[key];
    if (!Number.isSafeInteger(value) || value < 1) problems.push(`${key} must be a positive integer`);
  }
  // Untimed readings are `receivedAtNs + i`, inside the range the gateway's clock reserved per publish.
  if (merged.maxReadingsPerMessage > MAX_READINGS_PER_MESSAGE) {
    problems.push(`maxReadingsPerMessage must be at most ${MAX_READINGS_PER_MESSAGE}, the receive stamp's reserve`);
  }
  if (!Number.isSafeInteger(merged.maxFutureSkewMs) || merged.maxFutureSkewMs < 0) {
    problems.push('maxFutureSkewMs must be a non-negative integer');
  }
  if (merged.formatOverride !== undefined && !PAYLOAD_FORMATS.includes(merged.formatOverride)) {
    problems.push(`formatOverride must be one of ${PAYLOAD_FORMATS.join(', ')}`);
  }
  if (problems.length > 0) {
    throw sluiceError(ErrorCodes.CONFIG_INVALID, `invalid normalize options: ${problems.join('; ')}`);
  }
  return Object.freeze(merged);
}
