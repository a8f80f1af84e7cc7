/** The `window` condition, sliding and tumbling (contract: windowCondition in rules/condition-schema.ts). */
import { MAX_WINDOW_SAMPLES, type WindowCondition } from '../condition-schema.js';
import { bandOf, judge } from './band.js';
import { numericValue, type ConditionTransition, type OpenFlag, type RuleInput, type StepContext, type Step } from './types.js';

/** A window's running totals; min and max are null until a numeric value arrives (JSON has no Infinity). */
interface Totals {
  count: number;
  numeric: number;
  sum: number;
  min: number | null;
  max: number | null;
  /** Numeric values past `bound`: above it for countAbove, below it for countBelow. */
  hits: number;
}

export interface WindowState extends OpenFlag {
  type: 'window';
  reported: number | null;
  /** Sliding: the window's readings as [ts, value] in ts order, value null when not numeric. */
  samples: Array<[number, number | null]>;
  /** Tumbling: the open window and its totals. */
  bucket: (Totals & { start: number }) | null;
  /** Tumbling: readings before this are for a closed window, so late. */
  closedUntil: number | null;
}

const EMPTY: Totals = { count: 0, numeric: 0, sum: 0, min: null, max: null, hits: 0 };

export function initialWindowState(): WindowState {
  return { type: 'window', open: false, reported: null, samples: [], bucket: null, closedUntil: null };
}

export function stepWindow(condition: WindowCondition, state: WindowState, input: RuleInput, context: StepContext): Step<WindowState> {
  if (condition.kind === 'tumbling') return stepTumbling(condition, state, input, context);
  if (input.kind !== 'reading' || input.reading.metric !== condition.metric) return { state };
  const { ts } = input.reading;
  const newest = Math.max(ts, state.samples.at(-1)?.[0] ?? ts);
  if (ts <= newest - condition.window) return { state };

  // Copy-on-write keeps the step pure: one copy of the window per reading, bounded by maxSamples.
  const from = newest - condition.window;
  let firstInside = 0;
  while (firstInside < state.samples.length && (state.samples[firstInside]?.[0] ?? from) <= from) firstInside++;
  const samples = state.samples.slice(Math.max(firstInside, state.samples.length + 1 - (condition.maxSamples ?? MAX_WINDOW_SAMPLES)));
  let at = samples.length;
  while (at > 0 && (samples[at - 1]?.[0] ?? 0) > ts) at--;
  samples.splice(at, 0, [ts, numericValue(input.reading.value) ?? null]);
  return judged(condition, { ...state, samples }, totalsOf(condition, samples), { from, to: newest });
}

function stepTumbling(condition: WindowCondition, state: WindowState, input: RuleInput, context: StepContext): Step<WindowState> {
  const { bucket } = state;
  if (input.kind === 'tick') {
    const due = bucket !== null && input.now >= bucket.start + condition.window + context.allowedLatenessMs;
    return due ? close(condition, state, bucket) : { state };
  }
  if (input.kind !== 'reading' || input.reading.metric !== condition.metric) return { state };
  const { ts } = input.reading;
  if (state.closedUntil !== null && ts < state.closedUntil) return { state, late: true };

  const value = numericValue(input.reading.value) ?? null;
  const start = Math.floor(ts / condition.window) * condition.window;
  if (bucket !== null && start === bucket.start) return { state: { ...state, bucket: { ...add(condition, bucket, value), start } } };
  // A reading past the open window's end closes it: this device has moved on.
  const closed = bucket !== null ? close(condition, state, bucket) : { state };
  const opened = { ...add(condition, EMPTY, value), start };
  return { ...closed, state: { ...closed.state, bucket: opened, closedUntil: start } };
}

function close(condition: WindowCondition, state: WindowState, bucket: Totals & { start: number }): Step<WindowState> {
  const end = bucket.start + condition.window;
  return judged(condition, { ...state, bucket: null, closedUntil: end }, bucket, { from: bucket.start, to: end });
}

function judged(condition: WindowCondition, state: WindowState, totals: Totals, window: { from: number; to: number }): Step<WindowState> {
  const value = aggregateOf(condition, totals);
  if (value === undefined) return { state };
  const judgement = judge(bandOf(condition), state.open, state.reported, value);
  const next = { ...state, open: judgement.open, reported: judgement.reported };
  if (judgement.transition === undefined) return { state: next };
  const transition: ConditionTransition = { type: judgement.transition, ts: window.to, value, metric: condition.metric, window };
  return { state: next, transition };
}

function add(condition: WindowCondition, totals: Totals, value: number | null): Totals {
  if (value === null) return { ...totals, count: totals.count + 1 };
  return {
    count: totals.count + 1,
    numeric: totals.numeric + 1,
    sum: totals.sum + value,
    min: totals.min === null ? value : Math.min(totals.min, value),
    max: totals.max === null ? value : Math.max(totals.max, value),
    hits: totals.hits + (isHit(condition, value) ? 1 : 0),
  };
}

/** The totals of a whole sliding window, in one pass without allocating: it runs on every reading. */
function totalsOf(condition: WindowCondition, samples: ReadonlyArray<[number, number | null]>): Totals {
  let numeric = 0;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let hits = 0;
  for (const [, value] of samples) {
    if (value === null) continue;
    numeric++;
    sum += value;
    if (value < min) min = value;
    if (value > max) max = value;
    if (isHit(condition, value)) hits++;
  }
  return { count: samples.length, numeric, sum, min: numeric > 0 ? min : null, max: numeric > 0 ? max : null, hits };
}

function isHit(condition: WindowCondition, value: number): boolean {
  const bound = condition.bound ?? 0;
  return condition.aggregate === 'countAbove' ? value > bound : condition.aggregate === 'countBelow' && value < bound;
}

/** Undefined when the window has nothing to say (no numeric value for avg, min or max). */
function aggregateOf(condition: WindowCondition, totals: Totals): number | undefined {
  switch (condition.aggregate) {
    case 'count':
      return totals.count;
    case 'countAbove':
    case 'countBelow':
      return totals.hits;
    case 'avg':
      return totals.numeric > 0 ? totals.sum / totals.numeric : undefined;
    case 'min':
      return totals.min ?? undefined;
    case 'max':
      return totals.max ?? undefined;
  }
}
