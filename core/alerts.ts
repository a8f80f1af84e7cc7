/**
 * An alert, as the rules stage raises it and `{prefix}.alerts` carries it: one record per transition (raised,
 * updated, cleared, acknowledged), encoded and decoded by core/records.ts. Consumers dedupe by (alertId, seq): the
 * id comes from the rule, the device and the event time of the raise, so evaluating the same records again (a
 * restart, a replay) yields the same ids and sequence numbers, and nobody sees an alert twice. Two writers number
 * an alert's transitions, so seq alone does not order them: `nextAlertState` is the one rule every consumer applies.
 *
 * Plain data without Node's types: the dashboard's wire contract (compiled for the browser too) imports it.
 */

/** How bad an alert is; open alerts are listed worst first. */
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ALERT_TRANSITIONS = ['raised', 'updated', 'cleared', 'acknowledged'] as const;
export type AlertTransitionType = (typeof ALERT_TRANSITIONS)[number];

/**
 * Why an alert cleared: its condition stopped holding, or the engine stopped evaluating it — the rule was removed,
 * disabled or its condition edited (hot reload, or a restored state that no longer fits), or the edited selector
 * no longer picks the device.
 */
export const CLEAR_REASONS = ['condition', 'rule-removed', 'rule-disabled', 'rule-changed', 'device-unselected'] as const;
export type ClearReason = (typeof CLEAR_REASONS)[number];

export interface AlertWindow {
  from: number;
  to: number;
}

export interface AlertTransition {
  alertId: string;
  ruleId: string;
  deviceId: string;
  severity: Severity;
  transition: AlertTransitionType;
  state: 'open' | 'cleared';
  /** What the condition measured: the reading, aggregate, rate per minute, count, or milliseconds of silence. */
  value: number;
  metric?: string;
  /** The stretch of time the value covers (a window, a `for` run, the silence). */
  window?: AlertWindow;
  /** Event time of the raise; part of the alert id. */
  raisedAt: number;
  /** Event time of this transition (processing time for acknowledgements and forced clears). */
  ts: number;
  /** 1 for `raised`, one more for each later transition of the same alert. */
  seq: number;
  description: string;
  ackBy?: string;
  ackAt?: number;
  clearReason?: ClearReason;
  /** The rule asks for the device itself to be told (MQTT `devices/{id}/commands/alerts`). */
  notifyDevice?: boolean;
}

/**
 * Which transition of one alert a consumer holds once `incoming` arrives, or undefined when it changes nothing
 * (a duplicate, or older news). Contract: docs/contracts.md §8.
 *
 * The rules stage writes raised, updated and cleared; whoever acknowledges (the dashboard) writes `acknowledged`
 * with the seq it saw plus one, without waiting for the rules stage, which learns of it from the stream. The two
 * race: a clear or an update the rules stage wrote before it read the acknowledgement carries the same seq. So:
 * - a clear is final: it wins over any open transition whatever its seq, and nothing reopens a cleared alert (a new
 *   raise has a new id). Ordering by seq alone dropped such a clear and left the alert open for good;
 * - otherwise the higher seq wins; at the same seq, an acknowledgement and a rules-stage transition are one step
 *   seen by two writers, and are merged;
 * - an acknowledgement sticks: who and when carry over to every later transition that does not carry them.
 */
export function nextAlertState(held: AlertTransition | undefined, incoming: AlertTransition): AlertTransition | undefined {
  if (held === undefined) return incoming;
  if (held.state === 'cleared') return undefined;
  if (incoming.state === 'cleared' || incoming.seq > held.seq) return withAcknowledgement(incoming, held);
  const incomingIsAck = incoming.transition === 'acknowledged';
  if (incoming.seq !== held.seq || incomingIsAck === (held.transition === 'acknowledged')) return undefined;
  if (incomingIsAck && held.ackBy !== undefined) return undefined;
  return incomingIsAck ? withAcknowledgement(held, incoming) : withAcknowledgement(incoming, held);
}

function withAcknowledgement(next: AlertTransition, from: AlertTransition): AlertTransition {
  if (next.ackBy !== undefined || from.ackBy === undefined) return next;
  return { ...next, ackBy: from.ackBy, ...(from.ackAt !== undefined ? { ackAt: from.ackAt } : {}) };
}

/** An open alert as the rules stage reports it (`GET /api/rules`). */
export interface OpenAlertSummary {
  deviceId: string;
  alertId: string;
  /** Event time of the raise. */
  since: number;
  value: number;
  metric?: string;
  ackBy?: string;
}

export interface RuleSummary {
  id: string;
  description: string;
  severity: Severity;
  enabled: boolean;
  /** The condition in a few words ("temperature above 24 for 10s, clears at 23"). */
  condition: string;
  open: OpenAlertSummary[];
}

/** The rules a rules member runs and their live state; `error`: why the latest edit of the file was not taken. */
export interface RulesReport {
  source: string;
  loadedAt: number;
  error?: string;
  rules: RuleSummary[];
}
