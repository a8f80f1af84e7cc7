/**
 * The `deadletters` and `auth-failures` conditions (contract: rules/condition-schema.ts): how many of a kind of
 * record a device produced in a sliding window. Raised when a new record brings the count to `count`, cleared
 * once enough of them age out — noticed by a tick or the next record, stamped with the moment the count fell.
 */
import { MAX_WINDOW_SAMPLES, type CountCondition } from '../condition-schema.js';
import type { ConditionTransition, OpenFlag, RuleInput, Step } from './types.js';

export interface CountState extends OpenFlag {
  type: 'deadletters' | 'auth-failures';
  /** Times of the counted records in the window, in order. */
  times: number[];
  /** The count last sent out; an update goes out when the count doubles. */
  reported: number | null;
}

export function initialCountState(type: CountState['type']): CountState {
  return { type, open: false, times: [], reported: null };
}

/** The time of the record when `input` is one this condition counts. */
function countedAt(condition: CountCondition, input: RuleInput): number | undefined {
  if (condition.type === 'deadletters') return input.kind === 'deadletter' ? input.deadLetter.receivedAt : undefined;
  if (input.kind !== 'event') return undefined;
  return input.event.type === 'auth-failed' || input.event.type === 'auth-failures' ? input.event.ts : undefined;
}

export function stepCount(condition: CountCondition, state: CountState, input: RuleInput): Step<CountState> {
  const counted = input.kind === 'tick' ? undefined : countedAt(condition, input);
  const clock = input.kind === 'tick' ? input.now : counted;
  if (clock === undefined) return { state };
  const newest = Math.max(clock, state.times.at(-1) ?? clock);
  const from = newest - condition.window;
  const firstInside = state.times.findIndex((time) => time > from);
  const expired = firstInside === -1 ? state.times.length : firstInside;
  // When an open alert's count fell below `count`: the moment the entry that took it there aged out.
  const crossing = state.times[state.times.length - condition.count];
  const fellAt = state.open && state.times.length - expired < condition.count && crossing !== undefined ? crossing + condition.window : undefined;

  const times = state.times.slice(expired);
  if (counted !== undefined && counted > from) {
    let index = times.length;
    while (index > 0 && (times[index - 1] ?? 0) > counted) index--;
    times.splice(index, 0, counted);
  }
  const kept = times.slice(-MAX_WINDOW_SAMPLES);
  const value = kept.length;
  const window = { from, to: newest };
  let transition: ConditionTransition | undefined;
  if (!state.open && value >= condition.count) transition = { type: 'raised', ts: newest, value, window };
  else if (state.open && value < condition.count) transition = { type: 'cleared', ts: fellAt ?? newest, value, window };
  else if (state.open && value >= 2 * (state.reported ?? value)) transition = { type: 'updated', ts: newest, value, window };

  const open = transition === undefined ? state.open : transition.type !== 'cleared';
  const reported = transition === undefined ? state.reported : open ? value : null;
  return { state: { ...state, times: kept, open, reported }, transition };
}
