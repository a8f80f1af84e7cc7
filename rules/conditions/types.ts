/**
 * What every condition's step function takes and returns. A step is pure: (condition, state, input) → new state
 * and at most one transition. States are plain JSON (numbers, strings, arrays, objects, null), so the engine can
 * keep one per (device, rule) in a compacted changelog topic and restore it after a restart.
 */
import type { DeadLetter, DeviceEvent, Reading, ReadingValue } from '../../core/reading.js';

export type RuleInput =
  | { kind: 'reading'; reading: Reading }
  | { kind: 'event'; event: DeviceEvent }
  | { kind: 'deadletter'; deadLetter: DeadLetter }
  /** Processing time passing: silence, offline, tumbling windows and counts act on it. */
  | { kind: 'tick'; now: number };

export interface TimeWindow {
  from: number;
  to: number;
}

export interface ConditionTransition {
  type: 'raised' | 'updated' | 'cleared';
  /** Event time of the transition; deterministic for the same inputs, so alert ids are too. */
  ts: number;
  value: number;
  metric?: string;
  window?: TimeWindow;
}

export interface StepContext {
  allowedLatenessMs: number;
}

export interface Step<S> {
  state: S;
  transition?: ConditionTransition;
  /** The input was a reading too old to place (beyond allowed lateness): dropped, for the caller to count. */
  late?: true;
}

/** Every condition state says whether the condition holds (the alert is open). */
export interface OpenFlag {
  open: boolean;
}

/** A reading's value as a number where the condition types agree on one: booleans are 1 and 0. */
export function numericValue(value: ReadingValue): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
