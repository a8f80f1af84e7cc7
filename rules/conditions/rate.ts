/** The `rate` condition (contract: rateCondition in rules/condition-schema.ts). */
import { MAX_WINDOW_SAMPLES, type RateCondition } from '../condition-schema.js';
import { judge, type Band } from './band.js';
import type { OpenFlag, RuleInput, Step } from './types.js';

export interface RateState extends OpenFlag {
  type: 'rate';
  reported: number | null;
  /** [ts, value] in ts order: the reference reading (the newest at least `over` old) and everything after it. */
  history: Array<[number, number]>;
}

export function initialRateState(): RateState {
  return { type: 'rate', open: false, reported: null, history: [] };
}

export function stepRate(condition: RateCondition, state: RateState, input: RuleInput): Step<RateState> {
  if (input.kind !== 'reading' || input.reading.metric !== condition.metric) return { state };
  const { ts, value } = input.reading;
  if (typeof value !== 'number' || !Number.isFinite(value)) return { state };

  // Same ts twice (a resend): the later value replaces the earlier one.
  const history = state.history.filter(([sampleTs]) => sampleTs !== ts);
  let at = history.length;
  while (at > 0 && (history[at - 1]?.[0] ?? 0) > ts) at--;
  history.splice(at, 0, [ts, value]);

  const newest = history.at(-1);
  const over = condition.over ?? 0;
  const referenceAt = newest === undefined ? -1 : history.slice(0, -1).findLastIndex(([sampleTs]) => sampleTs <= newest[0] - over);
  const kept = history.slice(Math.max(referenceAt, 0, history.length - MAX_WINDOW_SAMPLES));
  const reference = history[referenceAt];
  if (newest === undefined || reference === undefined) return { state: { ...state, history: kept } };

  const perMinute = ((newest[1] - reference[1]) / (newest[0] - reference[0])) * 60_000;
  const band: Band = { direction: condition.perMinute > 0 ? 1 : -1, raiseAt: condition.perMinute, clearAt: condition.clearAt ?? condition.perMinute };
  const judgement = judge(band, state.open, state.reported, perMinute);
  const next = { ...state, history: kept, open: judgement.open, reported: judgement.reported };
  if (judgement.transition === undefined) return { state: next };
  const window = { from: reference[0], to: newest[0] };
  return { state: next, transition: { type: judgement.transition, ts: newest[0], value: perMinute, metric: condition.metric, window } };
}
