/**
 * The `deadletters` and `auth-failures` conditions (contract: rules/condition-schema.ts): how many of a kind of
 * record a device produced in a sliding window. Raised when a new record brings the count to `count`, cleared
 * once enough of them age out — noticed by a tick or the next record, stamped with the moment the count fell.
 */
import type { CountCondition } from '../condition-schema.js';
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

/**
 * The time of the record when `input` is one this condition counts, and how many it stands for: the gateway
 * reports refused logins for a device at most once per reason every 10 s, each report carrying how many it
 * stands for (`count`).
 */
function countedAt(condition: CountCondition, input: RuleInput): { at: number; weight: number } | undefined {
  if (condition.type === 'deadletters') return input.kind === 'deadletter' ? { at: input.deadLetter.receivedAt, weight: 1 } : undefined;
  if (input.kind !== 'event') return undefined;
  const { event } = input;
  if (event.type === 'auth-failed') return { at: event.ts, weight: Math.max(1, Math.floor(event.count ?? 1)) };
  return event.type === 'auth-failures' ? { at: event.ts, weight: 1 } : undefined;
}

/**
 * Entries kept: enough to tell "at least `count`" and to see it double, and no more, so a device flooding dead
 * letters keeps its state (and its changelog record) small. The value reported stops growing there.
 */
const keptEntries = (condition: CountCondition): number => Math.max(64, 4 * condition.count);

export function stepCount(condition: CountCondition, state: CountState, input: RuleInput): Step<CountState> {
  const record = input.kind === 'tick' ? undefined : countedAt(condition, input);
  const counted = record?.at;
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
    times.splice(index, 0, ...Array.from({ length: Math.min(record!.weight, keptEntries(condition)) }, () => counted));
  }
  const kept = times.slice(-keptEntries(condition));
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
