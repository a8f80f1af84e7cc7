/**
 * The state the engine keeps per (device, rule) — the condition's evaluation state plus the open alert — and
 * how a condition's transition becomes an alert record. Plain JSON throughout: this is what goes to the
 * changelog topic and comes back through `restore`, so it is checked on the way in like any record.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { alertIdOf } from '../core/records.js';
import type { AlertTransition, AlertWindow, ClearReason } from '../core/alerts.js';
import type { Condition } from './condition-schema.js';
import { initialEvaluationState, type ConditionState, type EvaluationState, type Step } from './conditions/index.js';
import { SEVERITIES, type Rule, type Severity } from './schema.js';

/** What an open alert carries between transitions. Severity and description too: a clear must be sendable after the rule is gone. */
export interface OpenAlert {
  alertId: string;
  raisedAt: number;
  seq: number;
  value: number;
  metric?: string;
  severity: Severity;
  description: string;
  notifyDevice?: boolean;
  ackBy?: string;
  ackAt?: number;
}

export interface RuleState extends EvaluationState {
  v: 1;
  /** The condition this state was built for: it is reused only while the rule's condition stays the same. */
  fingerprint: string;
  alert: OpenAlert | null;
}

export function fingerprintOf(condition: Condition): string {
  return createHash('sha1').update(canonicalJson(condition)).digest('hex').slice(0, 16);
}

export function initialRuleState(rule: Rule, fingerprint: string = fingerprintOf(rule.condition)): RuleState {
  return { v: 1, fingerprint, alert: null, ...initialEvaluationState(rule.condition) };
}

/** The next state after a condition step, and the alert record its transition makes, if any. */
export function advance(rule: Rule, deviceId: string, state: RuleState, step: Step<EvaluationState>): { state: RuleState; alert?: AlertTransition } {
  const next: RuleState = { ...state, ...step.state };
  const change = step.transition;
  if (change === undefined) return { state: next };
  const measured = { value: change.value, ...(change.metric !== undefined ? { metric: change.metric } : {}) };
  const window = change.window !== undefined ? { window: change.window } : {};
  const current = { severity: rule.severity, description: rule.description, notifyDevice: rule.notify?.device === true };

  if (change.type === 'cleared') {
    if (state.alert === null) return { state: next };
    const alert = { ...state.alert, ...current, ...measured, seq: state.alert.seq + 1 };
    return { state: { ...next, alert: null }, alert: record(rule.id, deviceId, alert, 'cleared', change.ts, { ...window, clearReason: 'condition' }) };
  }
  // An update with no alert open (a state restored half-way) opens one, so the record stream stays consistent.
  const alert: OpenAlert =
    change.type === 'updated' && state.alert !== null
      ? { ...state.alert, ...current, ...measured, seq: state.alert.seq + 1 }
      : { alertId: alertIdOf(rule.id, deviceId, change.ts), raisedAt: change.ts, seq: 1, ...current, ...measured };
  const transition = alert.seq === 1 ? 'raised' : 'updated';
  return { state: { ...next, alert }, alert: record(rule.id, deviceId, alert, transition, change.ts, window) };
}

/** The record that clears an open alert the engine stops evaluating (rule removed, disabled, edited). */
export function forcedClear(ruleId: string, deviceId: string, alert: OpenAlert, reason: ClearReason, ts: number): AlertTransition {
  return record(ruleId, deviceId, { ...alert, seq: alert.seq + 1 }, 'cleared', ts, { clearReason: reason });
}

export function acknowledge(ruleId: string, deviceId: string, alert: OpenAlert, by: string, at: number): { alert: OpenAlert; record: AlertTransition } {
  const acknowledged = { ...alert, seq: alert.seq + 1, ackBy: by, ackAt: at };
  return { alert: acknowledged, record: record(ruleId, deviceId, acknowledged, 'acknowledged', at, {}) };
}

function record(
  ruleId: string,
  deviceId: string,
  alert: OpenAlert,
  transition: AlertTransition['transition'],
  ts: number,
  extra: { window?: AlertWindow; clearReason?: ClearReason },
): AlertTransition {
  const { alertId, raisedAt, seq, value, metric, severity, description, notifyDevice, ackBy, ackAt } = alert;
  return {
    alertId,
    ruleId,
    deviceId,
    severity,
    transition,
    state: transition === 'cleared' ? 'cleared' : 'open',
    value,
    ...(metric !== undefined ? { metric } : {}),
    ...(extra.window !== undefined ? { window: extra.window } : {}),
    raisedAt,
    ts,
    seq,
    description,
    ...(ackBy !== undefined ? { ackBy } : {}),
    ...(ackAt !== undefined ? { ackAt } : {}),
    ...(extra.clearReason !== undefined ? { clearReason: extra.clearReason } : {}),
    ...(notifyDevice === true ? { notifyDevice } : {}),
  };
}

// Shallow, like every decoder here: the envelope and the open alert are checked; the condition's own state only
// for its type, and the dispatcher replaces a state of the wrong type (rules/conditions/index.ts).
const openAlertSchema = z.object({
  alertId: z.string().min(1),
  raisedAt: z.number(),
  seq: z.number().int().min(1),
  value: z.number(),
  metric: z.string().optional(),
  severity: z.enum(SEVERITIES),
  description: z.string(),
  notifyDevice: z.boolean().optional(),
  ackBy: z.string().optional(),
  ackAt: z.number().optional(),
});
const conditionEnvelope = z.looseObject({ type: z.string(), open: z.boolean() });
const ruleStateSchema = z.object({
  v: z.literal(1),
  fingerprint: z.string(),
  watermark: z.number().nullable(),
  condition: z.custom<ConditionState>((value) => conditionEnvelope.safeParse(value).success),
  alert: openAlertSchema.nullable(),
});

/** A state read back from the changelog, or undefined when it is not one this engine wrote. */
export function parseRuleState(value: unknown): RuleState | undefined {
  const parsed = ruleStateSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** JSON with object keys sorted, so equal conditions hash equally whatever order their fields were written in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
