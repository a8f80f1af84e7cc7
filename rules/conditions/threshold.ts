/** The `threshold` condition (contract: thresholdCondition in rules/condition-schema.ts). */
import type { ThresholdCondition } from '../condition-schema.js';
import { bandOf, breaches, isNotable, recovered } from './band.js';
import { numericValue, type OpenFlag, type RuleInput, type Step } from './types.js';

interface MetricState {
  /** Event time of the newest reading applied: an older one arriving later is stale. */
  ts: number;
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
  const { metric, ts } = input.reading;
  const value = numericValue(input.reading.value);
  const previous = state.metrics[metric];
  if (value === undefined || (previous !== undefined && ts < previous.ts)) return { state };

  const band = bandOf(condition);
  const since = breaches(band, value) ? (previous?.since ?? ts) : null;
  // Once hot, only a value past clearAt cools a metric; before that it must stay past the bound for `for`.
  const hot = previous?.hot === true ? !recovered(band, value) : since !== null && ts - since >= (condition.for ?? 0);
  const metrics = { ...state.metrics, [metric]: { ts, value, hot, since } };
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
