import type { AlertTransition, RuleSummary } from '../core/alerts.js';
import { timeNsOfMs, type Reading } from '../core/reading.js';
import type { Condition } from './condition-schema.js';
import { formatDuration } from './duration.js';
import type { RuleStatus } from './engine.js';
import type { Rule } from './schema.js';

/** A condition in a few words, for the rules list and the API: "temperature above 24 for 10s, clears at 23". */
export function describeCondition(condition: Condition): string {
  const bound = (c: { above?: number | undefined; below?: number | undefined; clearAt?: number | undefined }): string => {
    const side = c.above !== undefined ? `above ${c.above}` : `below ${c.below}`;
    return c.clearAt !== undefined ? `${side}, clears at ${c.clearAt}` : side;
  };
  switch (condition.type) {
    case 'threshold':
      return `${condition.metrics.join(' or ')} ${bound(condition)}${condition.for !== undefined ? ` for ${formatDuration(condition.for)}` : ''}`;
    case 'window': {
      const of = condition.bound !== undefined ? `${condition.aggregate}(${condition.bound})` : condition.aggregate;
      return `${of} of ${condition.metric} over a ${condition.kind} ${formatDuration(condition.window)} window ${bound(condition)}`;
    }
    case 'rate':
      return `${condition.metric} ${condition.perMinute > 0 ? 'rising' : 'falling'} faster than ${Math.abs(condition.perMinute)}/min${condition.over !== undefined ? ` over ${formatDuration(condition.over)}` : ''}`;
    case 'silence':
      return `no ${condition.metric ?? 'reading'} for ${formatDuration(condition.after)}`;
    case 'offline':
      return `offline for ${formatDuration(condition.after)}`;
    case 'deadletters':
      return `${condition.count} dead letters within ${formatDuration(condition.window)}`;
    case 'auth-failures':
      return `${condition.count} refused logins within ${formatDuration(condition.window)}`;
  }
}

/** The engine's live state joined with the rules it runs, as `GET /api/rules` reports them. */
export function summarizeRules(rules: readonly Rule[], status: readonly RuleStatus[]): RuleSummary[] {
  const open = new Map(status.map((s) => [s.ruleId, s.open]));
  return rules.map((rule) => ({
    id: rule.id,
    description: rule.description,
    severity: rule.severity,
    enabled: rule.enabled,
    condition: describeCondition(rule.condition),
    open: (open.get(rule.id) ?? []).map((alert) => ({ ...alert })),
  }));
}

/**
 * An alert transition as a point of the store: measurement `alert`, tags device, rule, severity, transition and
 * state, field `value` (what the condition measured), at the transition's time; Grafana overlays them on readings.
 */
export function alertAsReading(alert: AlertTransition): Reading {
  return {
    deviceId: alert.deviceId,
    metric: 'alert',
    value: alert.value,
    ts: alert.ts,
    timeNs: timeNsOfMs(alert.ts),
    receivedAt: alert.ts,
    tags: { rule: alert.ruleId, severity: alert.severity, transition: alert.transition, state: alert.state },
  };
}
