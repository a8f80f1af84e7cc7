/**
 * What the alert views say, as pure functions (no DOM, no timers), so the wording has a spec beside it
 * (test/unit/dashboard/alert-text.test.ts).
 */
import type { AlertCounts, AlertTransition, ClearReason, Severity } from '../protocol.js';
import { agoText } from './connection.js';

const CLEAR_REASON_TEXT: Record<ClearReason, string> = {
  condition: 'condition cleared',
  'rule-removed': 'rule removed',
  'rule-disabled': 'rule disabled',
  'rule-changed': 'rule changed',
  'device-unselected': 'device no longer selected',
};

export function clearReasonText(reason: ClearReason | undefined): string {
  return reason === undefined ? 'cleared' : CLEAR_REASON_TEXT[reason];
}

/** A number as the alert lists show it: at most two decimals, no trailing zeros. */
export function alertNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 100_000) return value.toExponential(2);
  return String(Math.round(value * (abs >= 100 ? 10 : 100)) / (abs >= 100 ? 10 : 100));
}

/**
 * The measured value of an alert and what it is of. A value that spans exactly the alert's window is a duration
 * (silence, offline: milliseconds) and reads as one; anything else is the condition's number (a reading, an
 * aggregate, a rate per minute, a count) next to its metric, or "count" in the window for counts without one.
 */
export function describeMeasure(alert: Pick<AlertTransition, 'value' | 'metric' | 'window'>): { value: string; label: string } {
  const { value, metric, window } = alert;
  if (window !== undefined && Math.abs(value - (window.to - window.from)) < 1) {
    return { value: agoText(value), label: metric !== undefined ? `without ${metric}` : 'duration' };
  }
  if (metric !== undefined) return { value: alertNumber(value), label: metric };
  if (window !== undefined) return { value: alertNumber(value), label: `in ${agoText(window.to - window.from)}` };
  return { value: alertNumber(value), label: '' };
}

/** "open 4 min" / "lasted 2 min · cleared 5 min ago", from the alert's raise and (when cleared) its clear. */
export function alertTiming(alert: Pick<AlertTransition, 'state' | 'raisedAt' | 'ts'>, now: number): string {
  if (alert.state === 'open') return `open ${agoText(now - alert.raisedAt)}`;
  return `lasted ${agoText(alert.ts - alert.raisedAt)} · cleared ${agoText(now - alert.ts)} ago`;
}

/** "acknowledged by alice 2 min ago". */
export function ackText(alert: Pick<AlertTransition, 'ackBy' | 'ackAt'>, now: number): string {
  if (alert.ackBy === undefined) return '';
  return alert.ackAt === undefined ? `acknowledged by ${alert.ackBy}` : `acknowledged by ${alert.ackBy} ${agoText(now - alert.ackAt)} ago`;
}

/** The header badge's tooltip: "3 open alerts: 1 critical, 2 warning · 1 not acknowledged". */
export function countsText(counts: AlertCounts): string {
  if (counts.open === 0) return 'No open alerts';
  const parts = (['critical', 'warning', 'info'] as Severity[]).filter((s) => counts.bySeverity[s] > 0).map((s) => `${counts.bySeverity[s]} ${s}`);
  const unacked = counts.unacknowledged > 0 ? ` · ${counts.unacknowledged} not acknowledged` : ' · all acknowledged';
  return `${counts.open} open ${counts.open === 1 ? 'alert' : 'alerts'}: ${parts.join(', ')}${unacked}`;
}

export interface AlertSpan {
  alertId: string;
  severity: Severity;
  /** The stretch the alert was open, cut to the chart's range. */
  start: number;
  end: number;
  /** The raise and the clear, when they fall inside the range (a line is drawn at each). */
  raise?: number;
  clear?: number;
}

/** What a chart over [from, to] marks of these alerts: the stretch each was open, its raise and its clear. */
export function alertSpans(alerts: readonly Pick<AlertTransition, 'alertId' | 'severity' | 'state' | 'raisedAt' | 'ts'>[], from: number, to: number): AlertSpan[] {
  const spans: AlertSpan[] = [];
  for (const alert of alerts) {
    const cleared = alert.state === 'cleared' ? alert.ts : undefined;
    const end = cleared ?? to;
    if (end < from || alert.raisedAt > to) continue;
    spans.push({
      alertId: alert.alertId,
      severity: alert.severity,
      start: Math.max(from, alert.raisedAt),
      end: Math.min(to, end),
      ...(alert.raisedAt >= from ? { raise: alert.raisedAt } : {}),
      ...(cleared !== undefined && cleared <= to ? { clear: cleared } : {}),
    });
  }
  return spans;
}
