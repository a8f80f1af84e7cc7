/**
 * The pure normalizer: one MQTT telemetry message → readings (docs/contracts.md §5 The reading) and rejections.
 * No I/O, no clock (the receive time is an input), deterministic, and it never throws: bad device input is
 * data to dead-letter (ARCHITECTURE.md "Design rules" 4), not an exception to crash the broker with.
 *
 * Which format a payload is read as — first matching row wins:
 *
 *   | condition                                   | format                                                 |
 *   |---------------------------------------------|--------------------------------------------------------|
 *   | options.formatOverride is set               | that format; a topic {metric} is used only by `value`  |
 *   | topic devices/{id}/telemetry/$json          | JSON (./json.ts)                                       |
 *   | topic devices/{id}/telemetry/$senml         | SenML JSON, RFC 8428 (./senml.ts)                      |
 *   | topic devices/{id}/telemetry/$line          | InfluxDB line protocol (./line-protocol.ts)            |
 *   | topic devices/{id}/telemetry/{metric}       | plain value for {metric}: number, bool, short string   |
 *   | topic devices/{id}/telemetry, by content:   |                                                        |
 *   |   first non-blank character is `{`          | JSON object                                            |
 *   |   first non-blank character is `[`          | SenML if every element is an object of SenML fields    |
 *   |                                             | and one carries a marker (./senml.ts), else JSON array |
 *   |   at least one line parses as line protocol | line protocol                                          |
 *   |   a number or `true`/`false` (NaN/inf too)  | plain value, metric `value` (NaN/inf are rejected)     |
 *   |   anything else                             | rejected: UNKNOWN_FORMAT                               |
 *
 * Checks before any format: the topic must be a telemetry topic of the connected device (TOPIC_NOT_TELEMETRY),
 * the payload non-empty (EMPTY_PAYLOAD, also for whitespace only), at most maxPayloadBytes (PAYLOAD_TOO_LARGE)
 * and valid UTF-8 (INVALID_UTF8; a leading BOM is dropped). JSON is additionally limited to maxNestingDepth
 * levels of containers, measured on the text before parsing (TOO_DEEP).
 *
 * Partial acceptance. A message is made of parts: a metric of a JSON object, an entry of `readings`, a SenML
 * record, a line of line protocol. Valid parts become readings; every bad part becomes exactly one rejection
 * (with `index` saying where, see ./rejections.ts) and does not stop the others. Something that applies to
 * several readings at once — the time or tags of a JSON object, the timestamp or tags of a line — is one part:
 * when it is bad, the readings it applies to are rejected together, with one rejection. Problems that make the whole
 * message unreadable reject it with no readings and a single rejection: too large, empty, invalid UTF-8,
 * invalid JSON, too deep, unknown format, a broken SenML pack, not a telemetry topic, and more than
 * maxReadingsPerMessage parts (TOO_MANY_READINGS; valid and rejected parts both count). A message that is
 * well-formed but yields no part at all (`{}`, `[]`, only comments) is rejected as NO_READINGS.
 *
 * Shared rules for every reading (./validate.ts): metric names match METRIC_NAME_PATTERN
 * (`^[A-Za-z_][A-Za-z0-9_.:-]*$`) and are at most maxMetricNameLength long; numbers are finite; strings, tag
 * values and units are at most maxStringLength code points; tag keys follow the metric-name rule and may not
 * be `device` or `ts_corrected`. Times follow ./timestamp.ts; a missing time is receivedAt, and a time more
 * than maxFutureSkewMs after receivedAt becomes receivedAt with the tag `ts_corrected: "future"`.
 */
import type { PayloadFormat, Reading } from '../../core/reading.js';
import { parseTelemetryTopic, TELEMETRY_TOPIC_SHAPE, type TelemetryTopic } from '../../core/topics.js';
import { normalizeJson, parseJson } from './json.js';
import { normalizeLineProtocol, tokenizeLineProtocol } from './line-protocol.js';
import { defaultNormalizeOptions, type NormalizeOptions } from './options.js';
import { quote, rejection, type Rejection, type RejectionCode } from './rejections.js';
import { looksLikeSenml, normalizeSenml } from './senml.js';
import { parsePlainValue } from './value.js';
import { createPartSink, finalizeDraft, TooManyParts, type ParseContext } from './validate.js';

export { createNormalizeOptions, defaultNormalizeOptions } from './options.js';
export type { NormalizeOptions } from './options.js';
/** Declared in core/reading.ts (with the list); re-exported for the bridge thread's message types. */
export type { PayloadFormat } from '../../core/reading.js';
export { REJECTION_CODES } from './rejections.js';
export type { Rejection, RejectionCode } from './rejections.js';
export { METRIC_NAME_PATTERN, RESERVED_TAG_KEYS } from './validate.js';

export interface NormalizeInput {
  /** The authenticated connection's id: the only source of `Reading.deviceId`. */
  deviceId: string;
  topic: string;
  payload: Buffer;
  /** Epoch ms at the gateway; also "now" for the future-skew check. */
  receivedAt: number;
  /**
   * The publish's receive stamp in epoch ns (core/precise-clock.ts), reserving maxReadingsPerMessage ns: the
   * time of its untimed readings (`receivedAtNs + i`) and "now" for relative SenML times. Without it (tools,
   * tests), `receivedAt` in ns.
   */
  receivedAtNs?: bigint;
}

export interface NormalizeResult {
  readings: Reading[];
  rejections: Rejection[];
}

// Stateless between calls: decode() without { stream: true } starts afresh every time.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function whole(code: RejectionCode, reason: string): NormalizeResult {
  return { readings: [], rejections: [rejection(code, reason)] };
}

export function normalize(input: NormalizeInput, options: NormalizeOptions = defaultNormalizeOptions): NormalizeResult {
  try {
    return normalizeUnguarded(input, options);
  } catch (error) {
    if (error instanceof TooManyParts) {
      return whole('TOO_MANY_READINGS', `message carries more than ${error.limit} readings`);
    }
    // Only a bug in this module gets here; the message is still dead-lettered instead of breaking the broker.
    const detail = error instanceof Error ? error.message : String(error);
    return whole('UNKNOWN_FORMAT', `normalizer failed unexpectedly: ${detail.slice(0, 200)}`);
  }
}

function normalizeUnguarded(input: NormalizeInput, options: NormalizeOptions): NormalizeResult {
  const { deviceId, topic, payload, receivedAt } = input;
  if (typeof deviceId !== 'string' || !Number.isFinite(receivedAt) || !(payload instanceof Uint8Array)) {
    return whole('UNKNOWN_FORMAT', 'invalid input: needs a deviceId, a Buffer payload and a finite receivedAt');
  }
  const parsedTopic = parseTelemetryTopic(topic);
  if (!parsedTopic) {
    return whole('TOPIC_NOT_TELEMETRY', `topic ${quote(String(topic))} is not ${TELEMETRY_TOPIC_SHAPE}`);
  }
  if (parsedTopic.deviceId !== deviceId) {
    return whole('TOPIC_NOT_TELEMETRY', `topic names device ${quote(parsedTopic.deviceId)}, not the connected device`);
  }
  if (payload.length === 0) return whole('EMPTY_PAYLOAD', 'payload is empty');
  if (payload.length > options.maxPayloadBytes) {
    return whole('PAYLOAD_TOO_LARGE', `payload has ${payload.length} bytes, more than ${options.maxPayloadBytes}`);
  }
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return whole('INVALID_UTF8', 'payload is not valid UTF-8');
  }
  if (text.trim() === '') return whole('EMPTY_PAYLOAD', 'payload is only whitespace');

  const receivedAtNs = input.receivedAtNs ?? BigInt(receivedAt) * 1_000_000n;
  const context: ParseContext = {
    options,
    receivedAt,
    receivedAtNs,
    sink: createPartSink(options.maxReadingsPerMessage),
  };
  const format: PayloadFormat | undefined =
    options.formatOverride ?? parsedTopic.format ?? (parsedTopic.metric === undefined ? undefined : 'value');
  const failure = format === undefined ? detectAndParse(text, context) : parseAs(format, text, parsedTopic, context);
  if (failure) return failure;

  const readings: Reading[] = [];
  const rejections: Rejection[] = [];
  // Device times of this payload by series: a second reading of one series at one device time would silently
  // overwrite the first in every store, so it is dead-lettered instead (DUPLICATE_TIME). Keyed only once a second
  // device-timed reading shows up: most payloads carry one, and a key per reading was measured on the hot path.
  let firstTimed: Reading | undefined;
  let deviceTimes: Set<string> | undefined;
  let untimed = 0;
  for (const part of context.sink.parts) {
    if ('rejection' in part) {
      rejections.push(part.rejection);
      continue;
    }
    const result = finalizeDraft(part.draft, { deviceId, receivedAt, receivedAtNs, options }, untimed);
    if ('code' in result) {
      rejections.push(result);
      continue;
    }
    const { reading } = result;
    if (!result.deviceTimed) {
      untimed += 1;
    } else if (firstTimed === undefined) {
      firstTimed = reading;
    } else {
      deviceTimes ??= new Set([seriesTimeKey(firstTimed)]);
      const key = seriesTimeKey(reading);
      if (deviceTimes.has(key)) {
        const reason = `${quote(reading.metric)} has a second reading at device time ${reading.timeNs} ns in this payload`;
        rejections.push(rejection('DUPLICATE_TIME', reason, part.draft.index));
        continue;
      }
      deviceTimes.add(key);
    }
    readings.push(reading);
  }
  if (readings.length === 0 && rejections.length === 0) {
    return whole('NO_READINGS', 'payload is well-formed but holds no readings');
  }
  return { readings, rejections };
}

/** A series (metric and tags, as the store keys it) at one time. */
function seriesTimeKey(reading: Reading): string {
  if (reading.tags === undefined) return `${reading.timeNs} ${reading.metric}`;
  const tags = Object.entries(reading.tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${reading.timeNs} ${JSON.stringify([reading.metric, tags])}`;
}

/** Parses with a known format; returns a whole-message result only when the message cannot be read at all. */
function parseAs(
  format: PayloadFormat,
  text: string,
  topic: TelemetryTopic,
  context: ParseContext,
): NormalizeResult | undefined {
  switch (format) {
    case 'json':
    case 'senml': {
      const parsed = parseJson(text, context.options.maxNestingDepth);
      if ('problem' in parsed) return whole(parsed.problem.code, parsed.problem.reason);
      if (format === 'json') normalizeJson(parsed.value, context);
      else normalizeSenml(parsed.value, context);
      return undefined;
    }
    case 'line':
      normalizeLineProtocol(tokenizeLineProtocol(text), context);
      return undefined;
    case 'value': {
      const plain = parsePlainValue(text, true, context.options.maxStringLength);
      if (plain === undefined) return whole('UNKNOWN_FORMAT', 'payload is not a plain value');
      if ('problem' in plain) return whole(plain.problem.code, plain.problem.reason);
      context.sink.draft({ metric: topic.metric ?? 'value', value: plain.value });
      return undefined;
    }
  }
}

/** Content detection for `devices/{id}/telemetry` (the table at the top of this file). */
function detectAndParse(text: string, context: ParseContext): NormalizeResult | undefined {
  const first = text.trimStart().charAt(0);
  if (first === '{' || first === '[') {
    const parsed = parseJson(text, context.options.maxNestingDepth);
    if ('problem' in parsed) return whole(parsed.problem.code, parsed.problem.reason);
    if (looksLikeSenml(parsed.value)) normalizeSenml(parsed.value, context);
    else normalizeJson(parsed.value, context);
    return undefined;
  }
  const lines = tokenizeLineProtocol(text);
  if (lines.anyValid) {
    normalizeLineProtocol(lines, context);
    return undefined;
  }
  const plain = parsePlainValue(text, false, context.options.maxStringLength);
  if (plain === undefined) {
    return whole('UNKNOWN_FORMAT', 'payload is not JSON, SenML, line protocol or a plain number or boolean');
  }
  if ('problem' in plain) return whole(plain.problem.code, plain.problem.reason);
  context.sink.draft({ metric: 'value', value: plain.value });
  return undefined;
}
