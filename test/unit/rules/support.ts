/** Builders for the rules tests: times are seconds after T0, so a table reads `reading('t', 81, 10)`. */
import type { DeviceEvent, Reading, ReadingValue } from '../../../core/reading.js';
import type { AlertTransition } from '../../../core/alerts.js';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { createRuleEngine, type RuleEngine } from '../../../rules/engine.js';
import { ruleSchema, type Rule } from '../../../rules/schema.js';
import { timeNsOfMs } from '../../../core/reading.js';

export const T0 = Date.UTC(2024, 0, 1, 12);
export const at = (seconds: number): number => T0 + seconds * 1000;
export const DEVICE = 'dev-1';

export function rule(condition: Record<string, unknown>, fields: Record<string, unknown> = {}): Rule {
  return ruleSchema.parse({ id: 'r1', description: 'test rule', severity: 'warning', condition, ...fields });
}

/** A reading at `seconds` of event time, received then too unless `extra` says otherwise. */
export function reading(metric: string, value: ReadingValue, seconds: number, extra: Partial<Reading> = {}): RuleInput {
  return { kind: 'reading', reading: { deviceId: DEVICE, metric, value, ts: at(seconds), timeNs: timeNsOfMs(at(seconds)), receivedAt: at(seconds), ...extra } };
}

export function event(type: DeviceEvent['type'], seconds: number, deviceId = DEVICE): RuleInput {
  return { kind: 'event', event: { deviceId, type, reason: 'test', ts: at(seconds) } };
}

export function deadLetter(seconds: number): RuleInput {
  return { kind: 'deadletter', deadLetter: { deviceId: DEVICE, code: 'MALFORMED', reason: 'test', topic: 't', payload: '', receivedAt: at(seconds) } };
}

export const tick = (seconds: number): RuleInput => ({ kind: 'tick', now: at(seconds) });

/** `raised@10=81`: the transition, its event time in seconds after T0, and its value (3 decimals). */
export function brief(alert: AlertTransition): string {
  return `${alert.transition}@${(alert.ts - T0) / 1000}=${Math.round(alert.value * 1000) / 1000}`;
}

export function engineFor(rules: readonly Rule[], allowedLatenessMs = 60_000): RuleEngine {
  return createRuleEngine({ rules, allowedLatenessMs, now: () => T0 });
}

/** Feeds `inputs` to a fresh engine with `rules`; returns every transition and the engine. */
export function run(rules: Rule | readonly Rule[], inputs: readonly RuleInput[], allowedLatenessMs?: number): { transitions: AlertTransition[]; engine: RuleEngine } {
  const engine = engineFor(Array.isArray(rules) ? rules : [rules as Rule], allowedLatenessMs);
  const transitions = inputs.flatMap((input) => engine.apply(input));
  return { transitions, engine };
}

export const briefs = (rules: Rule | readonly Rule[], inputs: readonly RuleInput[], allowedLatenessMs?: number): string[] =>
  run(rules, inputs, allowedLatenessMs).transitions.map(brief);
