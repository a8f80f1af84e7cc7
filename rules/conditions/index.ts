/**
 * One step of any condition, for one (device, rule): the allowed-lateness check on event time, then the
 * condition's own step. The engine keeps the result per (device, rule); nothing here holds state.
 */
import type { Condition } from '../condition-schema.js';
import { initialCountState, stepCount, type CountState } from './counts.js';
import { initialOfflineState, initialSilenceState, stepOffline, stepSilence, type OfflineState, type SilenceState } from './presence.js';
import { initialRateState, stepRate, type RateState } from './rate.js';
import { initialThresholdState, stepThreshold, type ThresholdState } from './threshold.js';
import type { RuleInput, Step, StepContext } from './types.js';
import { initialWindowState, stepWindow, type WindowState } from './window.js';

export type { ConditionTransition, RuleInput, Step, StepContext, TimeWindow } from './types.js';

export type ConditionState = ThresholdState | WindowState | RateState | SilenceState | OfflineState | CountState;

export interface EvaluationState {
  /**
   * The newest reading ts seen for this device by this rule (event time), or null. Readings older than it minus
   * the allowed lateness are dropped as late. Only the conditions on readings' event time look at it.
   */
  watermark: number | null;
  condition: ConditionState;
}

/** Conditions judged on readings' event time, so subject to allowed lateness; the others run on gateway time. */
const ON_EVENT_TIME = new Set<Condition['type']>(['threshold', 'window', 'rate']);

export function initialEvaluationState(condition: Condition): EvaluationState {
  return { watermark: null, condition: initialConditionState(condition) };
}

export function stepEvaluation(condition: Condition, state: EvaluationState, input: RuleInput, context: StepContext): Step<EvaluationState> {
  let { watermark } = state;
  if (input.kind === 'reading' && ON_EVENT_TIME.has(condition.type)) {
    const { ts } = input.reading;
    if (watermark !== null && ts < watermark - context.allowedLatenessMs) return { state, late: true };
    watermark = Math.max(watermark ?? ts, ts);
  }
  const step = stepCondition(condition, state.condition, input, context);
  return { ...step, state: { watermark, condition: step.state } };
}

/** A state of another type than the condition (a restored state after an edit) is replaced by a fresh one. */
export function stepCondition(condition: Condition, state: ConditionState, input: RuleInput, context: StepContext): Step<ConditionState> {
  switch (condition.type) {
    case 'threshold':
      return stepThreshold(condition, state.type === 'threshold' ? state : initialThresholdState(), input);
    case 'window':
      return stepWindow(condition, state.type === 'window' ? state : initialWindowState(), input, context);
    case 'rate':
      return stepRate(condition, state.type === 'rate' ? state : initialRateState(), input);
    case 'silence':
      return stepSilence(condition, state.type === 'silence' ? state : initialSilenceState(), input);
    case 'offline':
      return stepOffline(condition, state.type === 'offline' ? state : initialOfflineState(), input);
    case 'deadletters':
    case 'auth-failures': {
      const counted = state.type === 'deadletters' || state.type === 'auth-failures' ? state : undefined;
      return stepCount(condition, counted?.type === condition.type ? counted : initialCountState(condition.type), input);
    }
  }
}

export function initialConditionState(condition: Condition): ConditionState {
  switch (condition.type) {
    case 'threshold':
      return initialThresholdState();
    case 'window':
      return initialWindowState();
    case 'rate':
      return initialRateState();
    case 'silence':
      return initialSilenceState();
    case 'offline':
      return initialOfflineState();
    case 'deadletters':
    case 'auth-failures':
      return initialCountState(condition.type);
  }
}

/**
 * Whether a state can be forgotten: a count whose window emptied (what an auth-failure storm over made-up device
 * ids leaves behind). Every other state remembers something a later input needs: a watermark, a last-seen time.
 */
export function isIdle(state: ConditionState): boolean {
  return !state.open && (state.type === 'deadletters' || state.type === 'auth-failures') && state.times.length === 0;
}
