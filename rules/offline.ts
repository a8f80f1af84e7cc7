/**
 * Rules run over a file of one device's records, with no Kafka and no clock: what backs
 * `sluice rules test FILE --device ID --readings FILE`. Time is the records' own: before each record the engine
 * ticks to just before its time, so silence and offline timers, tumbling windows and counts fire where they would
 * have live.
 */
import { timeNsOfMs, type DeviceEvent, type ReadingValue } from '../core/reading.js';
import { connectionFieldsOf } from '../core/records.js';
import type { AlertTransition } from '../core/alerts.js';
import type { RuleInput } from './conditions/index.js';
import { createRuleEngine } from './engine.js';
import type { Rule } from './schema.js';

export interface OfflineOptions {
  allowedLatenessMs?: number;
  /** Tick once more at this time after the last record, to see timers that run out after it. */
  until?: number;
}

export interface OfflineResult {
  transitions: AlertTransition[];
  /** Readings dropped for arriving later than the allowed lateness. */
  lateReadings: number;
  /** Records of another device in the file, left out. */
  otherDevices: number;
}

const EVENT_TYPES = new Set<string>(['online', 'offline', 'acl-violation', 'auth-failed', 'auth-failures', 'refused']);

/**
 * The records of a file, in the file's order: a JSON array or NDJSON of readings (`{metric, value, ts}` is enough:
 * the device id is filled in, receivedAt defaults to ts), device events (`{type, ts}`, with `session` and
 * `connectedAt` where the status is to be ordered by connection) and dead letters
 * (`{code, receivedAt}`). `errors` names each line (or array index) that is none of these.
 */
export function parseRecords(input: string | readonly unknown[], deviceId: string): { inputs: RuleInput[]; otherDevices: number; errors: string[] } {
  const items: Item[] = typeof input === 'string' ? splitText(input) : input.map((value, index) => ({ where: `[${index}]`, value }));
  const inputs: RuleInput[] = [];
  const errors: string[] = [];
  let otherDevices = 0;
  for (const { where, value, error } of items) {
    const record = error === undefined ? toInput(value, deviceId) : undefined;
    if (record === 'other-device') otherDevices++;
    else if (record !== undefined) inputs.push(record);
    else errors.push(`${where}: ${error ?? 'not a reading, device event or dead letter'}`);
  }
  return { inputs, otherDevices, errors };
}

export function evaluateOffline(rules: readonly Rule[], deviceId: string, records: string | readonly unknown[], options: OfflineOptions = {}): OfflineResult & { errors: string[] } {
  const { inputs, otherDevices, errors } = parseRecords(records, deviceId);
  let clock = Number.NEGATIVE_INFINITY;
  const engine = createRuleEngine({ rules, ...(options.allowedLatenessMs !== undefined ? { allowedLatenessMs: options.allowedLatenessMs } : {}), now: () => clock });
  const transitions: AlertTransition[] = [];
  const tickTo = (at: number): void => {
    if (at <= clock) return;
    clock = at;
    transitions.push(...engine.tick(at));
  };
  for (const input of inputs) {
    const at = timeOf(input);
    tickTo(at - 1);
    transitions.push(...engine.apply(input));
  }
  if (options.until !== undefined) tickTo(options.until);
  return { transitions, lateReadings: engine.stats().lateReadings, otherDevices, errors };
}

/** One line for a person: `2024-05-01T12:00:10.000Z RAISED critical freezer-warm fridge-1 temperature=24.6 …`. */
export function formatTransition(alert: AlertTransition): string {
  const parts = [new Date(alert.ts).toISOString(), alert.transition.toUpperCase(), alert.severity, alert.ruleId, alert.deviceId, `${alert.metric ?? 'value'}=${round(alert.value)}`];
  if (alert.window !== undefined) parts.push(`window ${new Date(alert.window.from).toISOString()}..${new Date(alert.window.to).toISOString()}`);
  if (alert.clearReason !== undefined && alert.clearReason !== 'condition') parts.push(`(${alert.clearReason})`);
  if (alert.transition === 'acknowledged' && alert.ackBy !== undefined) parts.push(`by ${alert.ackBy}`);
  parts.push(`[${alert.alertId}#${alert.seq}]`);
  return parts.join(' ');
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function timeOf(input: RuleInput): number {
  switch (input.kind) {
    case 'reading':
      return input.reading.receivedAt;
    case 'event':
      return input.event.ts;
    case 'deadletter':
      return input.deadLetter.receivedAt;
    case 'tick':
      return input.now;
  }
}

interface Item {
  /** `line 3` or `[2]`, for error messages. */
  where: string;
  value?: unknown;
  error?: string;
}

function splitText(text: string): Item[] {
  if (text.trimStart().startsWith('[')) {
    try {
      const array: unknown = JSON.parse(text);
      if (Array.isArray(array)) return array.map((value: unknown, index) => ({ where: `[${index}]`, value }));
    } catch (error) {
      return [{ where: 'file', error: `not a JSON array: ${(error as Error).message}` }];
    }
  }
  return text.split('\n').flatMap((line, index): Item[] => {
    if (line.trim() === '') return [];
    try {
      return [{ where: `line ${index + 1}`, value: JSON.parse(line) as unknown }];
    } catch {
      return [{ where: `line ${index + 1}`, error: 'not JSON' }];
    }
  });
}

function toInput(value: unknown, deviceId: string): RuleInput | 'other-device' | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.deviceId !== undefined && record.deviceId !== deviceId) return 'other-device';
  const { metric, ts, type, code } = record;
  const receivedAt = typeof record.receivedAt === 'number' ? record.receivedAt : ts;
  if (typeof metric === 'string' && isReadingValue(record.value) && typeof ts === 'number' && typeof receivedAt === 'number') {
    const tags = isTags(record.tags) ? { tags: record.tags } : {};
    // A line may give the precise time (`timeNs`, as records carry it); else its ms time is the identity.
    const timeNs = typeof record.timeNs === 'string' && /^\d+$/.test(record.timeNs) ? record.timeNs : timeNsOfMs(ts);
    return { kind: 'reading', reading: { deviceId, metric, value: record.value, ts, timeNs, receivedAt, ...tags } };
  }
  if (typeof type === 'string' && EVENT_TYPES.has(type) && typeof ts === 'number') {
    const reason = typeof record.reason === 'string' ? record.reason : '';
    // With its connection, if the line gives one: status is ordered by it (core/device-status.ts), as live.
    return { kind: 'event', event: { deviceId, type: type as DeviceEvent['type'], reason, ts, ...connectionFieldsOf(record) } };
  }
  if (typeof code === 'string' && typeof receivedAt === 'number') {
    return { kind: 'deadletter', deadLetter: { deviceId, code, reason: String(record.reason ?? ''), topic: String(record.topic ?? ''), payload: '', receivedAt } };
  }
  return undefined;
}

function isReadingValue(value: unknown): value is ReadingValue {
  return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string';
}

function isTags(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((tag) => typeof tag === 'string');
}
