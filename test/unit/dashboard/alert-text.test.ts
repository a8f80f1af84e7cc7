import { describe, expect, it } from 'vitest';
import { ackText, alertNumber, alertSpans, alertTiming, clearReasonText, countsText, describeMeasure } from '../../../dashboard/web/alert-text.js';

describe('what the alert views say', () => {
  it('shows a measured value next to its metric, a silence as a duration, a count with its window', () => {
    expect(describeMeasure({ value: 51.234, metric: 'temperature' })).toEqual({ value: '51.23', label: 'temperature' });
    expect(describeMeasure({ value: 45_000, window: { from: 10_000, to: 55_000 } })).toEqual({ value: '45 s', label: 'duration' });
    expect(describeMeasure({ value: 180_000, metric: 'humidity', window: { from: 0, to: 180_000 } })).toEqual({ value: '3 min', label: 'without humidity' });
    expect(describeMeasure({ value: 7, window: { from: 0, to: 60_000 } })).toEqual({ value: '7', label: 'in 1 min' });
    expect(describeMeasure({ value: 2.5, metric: 'temperature', window: { from: 0, to: 30_000 } })).toEqual({ value: '2.5', label: 'temperature' });
  });

  it('rounds numbers to what a person reads', () => {
    expect([alertNumber(21), alertNumber(21.456), alertNumber(1234.56), alertNumber(-0.004), alertNumber(2_500_000)]).toEqual(['21', '21.46', '1234.6', '0', '2.50e+6']);
  });

  it('says how long an alert has been open, or how long it lasted and when it cleared', () => {
    expect(alertTiming({ state: 'open', raisedAt: 0, ts: 0 }, 4 * 60_000 + 5_000)).toBe('open 4 min');
    expect(alertTiming({ state: 'cleared', raisedAt: 0, ts: 120_000 }, 420_000)).toBe('lasted 2 min · cleared 5 min ago');
  });

  it('says who acknowledged and when, and why an alert cleared', () => {
    expect(ackText({ ackBy: 'alice', ackAt: 1_000 }, 31_000)).toBe('acknowledged by alice 30 s ago');
    expect(ackText({}, 31_000)).toBe('');
    expect(clearReasonText('condition')).toBe('condition cleared');
    expect(clearReasonText('device-unselected')).toBe('device no longer selected');
  });

  it('sums the open alerts up for the header badge', () => {
    expect(countsText({ open: 0, unacknowledged: 0, bySeverity: { info: 0, warning: 0, critical: 0 } })).toBe('No open alerts');
    expect(countsText({ open: 3, unacknowledged: 1, bySeverity: { info: 0, warning: 2, critical: 1 }, worst: 'critical' })).toBe('3 open alerts: 1 critical, 2 warning · 1 not acknowledged');
    expect(countsText({ open: 1, unacknowledged: 0, bySeverity: { info: 1, warning: 0, critical: 0 }, worst: 'info' })).toBe('1 open alert: 1 info · all acknowledged');
  });

  it('marks on a chart the stretch each alert was open, with its raise and clear when they are in range', () => {
    const alerts = [
      { alertId: 'inside', severity: 'warning' as const, state: 'cleared' as const, raisedAt: 200, ts: 300 },
      { alertId: 'open', severity: 'critical' as const, state: 'open' as const, raisedAt: 50, ts: 50 },
      { alertId: 'before', severity: 'info' as const, state: 'cleared' as const, raisedAt: 10, ts: 90 },
      { alertId: 'after', severity: 'info' as const, state: 'open' as const, raisedAt: 2_000, ts: 2_000 },
    ];
    expect(alertSpans(alerts, 100, 1_000)).toEqual([
      { alertId: 'inside', severity: 'warning', start: 200, end: 300, raise: 200, clear: 300 },
      { alertId: 'open', severity: 'critical', start: 100, end: 1_000 },
    ]);
  });
});
