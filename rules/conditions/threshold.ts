/** The `threshold` condition (contract: thresholdCondition in rules/condition-schema.ts). */
import { compareTimeNs } from '../../core/reading.js';
import type { ThresholdCondition } from '../condition-schema.js';
import { bandOf, breaches, isNotable, recovered } from './band.js';
import { numericValue, type OpenFlag, type RuleInput, type Step } from './types.js';

interface MetricState {
  /** Event time of the newest reading applied: an older one arriving later is stale. */
  ts: number;
  /**
   * Its precise time (Reading.timeNs): two readings in one millisecond are ordered by it. Absent in a state
   * restored from before it existed; `ts` then decides.
   */
  timeNs?: string;
  value: number;
  /** Past the bound for at least `for`, and not yet back past `clearAt`: this metric holds the alert open. */
  hot: boolean;
  /** Event time of the first reading of the current run past the raise bound; null when not past it. */
  since: number | null;
}

export interface ThresholdState extends OpenFlag {
  type: 'threshold';
  /** Only metrics the condition names, so its size is bounded by the rule. */
  metrics: Record<string, MetricState>;
  reported: number | null;
}

export function initialThresholdState(): ThresholdState {
  return { type: 'threshold', open: false, metrics: {}, reported: null };
}

export function stepThreshold(condition: ThresholdCondition, state: ThresholdState, input: RuleInput): Step<ThresholdState> {
  if (input.kind !== 'reading' || !condition.metrics.includes(input.reading.metric)) return { state };
  const { metric, ts, timeNs } = input.reading;
  const value = numericValue(input.reading.value);
  const previous = state.metrics[metric];
  if (value === undefined || (previous !== undefined && isStale(ts, timeNs, previous))) return { state };

  const band = bandOf(condition);
  const since = breaches(band, value) ? (previous?.since ?? ts) : null;
  // Once hot, only a value past clearAt cools a metric; before that it must stay past the bound for `for`.
  const hot = previous?.hot === true ? !recovered(band, value) : since !== null && ts - since >= (condition.for ?? 0);
  const metrics = { ...state.metrics, [metric]: { ts, timeNs, value, hot, since } };
  const open = Object.values(metrics).some((entry) => entry.hot);
  const next: ThresholdState = { ...state, metrics, open };

  if (!state.open && open) {
    const window = condition.for !== undefined && since !== null ? { window: { from: since, to: ts } } : {};
    return { state: { ...next, reported: value }, transition: { type: 'raised', ts, value, metric, ...window } };
  }
  if (state.open && !open) return { state: { ...next, reported: null }, transition: { type: 'cleared', ts, value, metric } };
  if (open && hot && isNotable(band, state.reported ?? value, value)) {
    return { state: { ...next, reported: value }, transition: { type: 'updated', ts, value, metric } };
  }
  return { state: next };
}

/** Older than the newest reading applied, by the precise time where both have one (a same-ms pair is ordered). */
function isStale(ts: number, timeNs: string, previous: MetricState): boolean {
  if (previous.timeNs === undefined || ts !== previous.ts) return ts < previous.ts;
  return compareTimeNs(timeNs, previous.timeNs) < 0;
}
