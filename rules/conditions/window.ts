/** The `window` condition, sliding and tumbling (contract: windowCondition in rules/condition-schema.ts). */
import type { WindowCondition } from '../condition-schema.js';
import { bandOf, judge } from './band.js';
import { numericValue, type ConditionTransition, type OpenFlag, type RuleInput, type StepContext, type Step } from './types.js';

/** A sliding window is cut into at most this many buckets (more when the window is not a multiple of the width). */
export const SLIDING_BUCKETS = 60;
/**
 * The narrowest bucket of a window longer than it. Devices rarely stamp readings finer than this, and a wider
 * bucket aggregates more readings into one entry, so the state of a short window stays a few hundred bytes.
 */
export const MIN_BUCKET_MS = 1000;

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

/**
 * One bucket of a sliding window: bucket `index` holds the readings with ts in ((index − 1)·width, index·width].
 * A tuple rather than Totals with named fields: the state is written to the changelog on every change, and 61
 * buckets of objects would be twice the bytes.
 */
export type WindowBucket = [index: number, count: number, numeric: number, sum: number, min: number | null, max: number | null, hits: number];

export interface WindowState extends OpenFlag {
  type: 'window';
  reported: number | null;
  /** Sliding: the newest ts (event time) of the metric, or null before its first reading. */
  latest: number | null;
  /** Sliding: the buckets that hold readings and overlap (latest − window, latest], oldest first. */
  buckets: WindowBucket[];
  /** Tumbling: the open window and its totals. */
  bucket: (Totals & { start: number }) | null;
  /** Tumbling: readings before this are for a closed window, so late. */
  closedUntil: number | null;
}

const EMPTY: Totals = { count: 0, numeric: 0, sum: 0, min: null, max: null, hits: 0 };

export function initialWindowState(): WindowState {
  return { type: 'window', open: false, reported: null, latest: null, buckets: [], bucket: null, closedUntil: null };
}

/**
 * The width of a sliding window's buckets: window/60, at least MIN_BUCKET_MS (so windows under a minute have
 * one-second buckets), and never wider than the window itself.
 */
export function bucketWidthOf(windowMs: number): number {
  return Math.max(Math.min(windowMs, MIN_BUCKET_MS), Math.ceil(windowMs / SLIDING_BUCKETS));
}

export function stepWindow(condition: WindowCondition, state: WindowState, input: RuleInput, context: StepContext): Step<WindowState> {
  if (condition.kind === 'tumbling') return stepTumbling(condition, state, input, context);
  if (input.kind !== 'reading' || input.reading.metric !== condition.metric) return { state };
  // A restored state is checked only for its type (rule-state.ts): one without buckets starts them afresh,
  // keeping whether the alert is open so the next verdict clears or updates it rather than raising it again.
  const current: WindowState = Array.isArray(state.buckets) ? state : { ...initialWindowState(), open: state.open, reported: state.reported };
  const { ts } = input.reading;
  const width = bucketWidthOf(condition.window);
  const latest = Math.max(ts, current.latest ?? ts);
  // The oldest bucket that overlaps (latest − window, latest]: the window slides in whole buckets, so it may
  // reach back up to one bucket before latest − window. Anything older has slid out.
  const first = Math.floor((latest - condition.window) / width) + 1;
  const index = Math.ceil(ts / width);
  if (index < first) return { state: current };

  const value = numericValue(input.reading.value) ?? null;
  // Copy-on-write keeps the step pure; the copy is at most SLIDING_BUCKETS + 1 short tuples.
  const buckets = current.buckets.filter(([at]) => at >= first);
  const at = buckets.findIndex(([bucketIndex]) => bucketIndex >= index);
  const into = at === -1 ? undefined : buckets[at];
  if (into !== undefined && into[0] === index) buckets[at] = toBucket(index, add(condition, toTotals(into), value));
  else buckets.splice(at === -1 ? buckets.length : at, 0, toBucket(index, add(condition, EMPTY, value)));
  return judged(condition, { ...current, latest, buckets }, totalsOf(buckets), { from: (first - 1) * width, to: latest });
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

function toTotals([, count, numeric, sum, min, max, hits]: WindowBucket): Totals {
  return { count, numeric, sum, min, max, hits };
}

function toBucket(index: number, totals: Totals): WindowBucket {
  return [index, totals.count, totals.numeric, totals.sum, totals.min, totals.max, totals.hits];
}

/** The totals of a whole sliding window from its buckets, in one pass without allocating: it runs on every reading. */
function totalsOf(buckets: readonly WindowBucket[]): Totals {
  let count = 0;
  let numeric = 0;
  let sum = 0;
  let min: number | null = null;
  let max: number | null = null;
  let hits = 0;
  for (const [, bucketCount, bucketNumeric, bucketSum, bucketMin, bucketMax, bucketHits] of buckets) {
    count += bucketCount;
    numeric += bucketNumeric;
    sum += bucketSum;
    if (bucketMin !== null && (min === null || bucketMin < min)) min = bucketMin;
    if (bucketMax !== null && (max === null || bucketMax > max)) max = bucketMax;
    hits += bucketHits;
  }
  return { count, numeric, sum, min, max, hits };
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
