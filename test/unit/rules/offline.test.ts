import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../core/alerts.js';
import { evaluateOffline, formatTransition, parseRecords } from '../../../rules/offline.js';
import { at, brief, DEVICE, rule } from './support.js';

const rules = [
  rule({ type: 'threshold', metrics: ['temperature'], above: 24, clearAt: 23 }, { id: 'warm' }),
  rule({ type: 'silence', after: '30s' }, { id: 'silent' }),
  rule({ type: 'offline', after: '1m' }, { id: 'gone' }),
  rule({ type: 'deadletters', count: 2, window: '1m' }, { id: 'garbage' }),
];
const line = (record: Record<string, unknown>): string => JSON.stringify(record);
const summary = (transitions: AlertTransition[]): string[] => transitions.map((alert) => `${alert.ruleId} ${brief(alert)}`);

describe('evaluateOffline', () => {
  it('runs NDJSON of {metric, value, ts} lines, ticking between them so silence fires in the gaps', () => {
    const text = [line({ metric: 'temperature', value: 22, ts: at(0) }), line({ metric: 'temperature', value: 25, ts: at(10) }), '', line({ metric: 'temperature', value: 22, ts: at(50) })].join('\n');
    const result = evaluateOffline(rules, DEVICE, text);
    expect(summary(result.transitions)).toEqual(['warm raised@10=25', 'silent raised@40=39999', 'warm cleared@50=22', 'silent cleared@50=40000']);
    expect(result).toMatchObject({ lateReadings: 0, otherDevices: 0, errors: [] });
  });

  it('takes a JSON array of readings, device events and dead letters, leaving out other devices', () => {
    const records = [
      { deviceId: DEVICE, metric: 'temperature', value: 20, ts: at(0), receivedAt: at(0) },
      { deviceId: 'someone-else', metric: 'temperature', value: 99, ts: at(1), receivedAt: at(1) },
      { type: 'offline', ts: at(2) },
      { code: 'MALFORMED', receivedAt: at(3) },
      { code: 'MALFORMED', receivedAt: at(4) },
      { type: 'online', ts: at(70) },
    ];
    const result = evaluateOffline(rules, DEVICE, JSON.stringify(records));
    expect(summary(result.transitions)).toEqual(['garbage raised@4=2', 'silent raised@30=69999', 'gone raised@62=67999', 'garbage cleared@63=0', 'gone cleared@70=68000']);
    expect(result.otherDevices).toBe(1);
  });

  it('ticks once more at `until`, for timers that run out after the last record', () => {
    const text = line({ metric: 'temperature', value: 20, ts: at(0) });
    expect(summary(evaluateOffline(rules, DEVICE, text).transitions)).toEqual([]);
    expect(summary(evaluateOffline(rules, DEVICE, text, { until: at(100) }).transitions)).toEqual(['silent raised@30=100000']);
  });

  it('counts readings later than the allowed lateness', () => {
    const records = [{ metric: 'temperature', value: 20, ts: at(100) }, { metric: 'temperature', value: 30, ts: at(10) }];
    const result = evaluateOffline(rules, DEVICE, records, { allowedLatenessMs: 5_000 });
    expect(result.lateReadings).toBe(1);
    expect(result.transitions).toEqual([]);
  });

  it('orders device events by their connection where the file gives one, as live: a takeover’s late offline is no outage', () => {
    const gone = [rule({ type: 'offline', after: '1m' }, { id: 'gone' })];
    const records = [
      { type: 'online', ts: at(0), session: 'gw-a#1', connectedAt: at(0) },
      { type: 'online', ts: at(10), session: 'gw-b#1', connectedAt: at(10) },
      { type: 'offline', reason: 'takeover', ts: at(11), session: 'gw-a#1', connectedAt: at(0) },
    ];
    expect(summary(evaluateOffline(gone, DEVICE, records, { until: at(300) }).transitions)).toEqual([]);
    // Without them, by ts: the takeover's offline is the newest event.
    const bare = records.map(({ type, ts }) => ({ type, ts }));
    expect(summary(evaluateOffline(gone, DEVICE, bare, { until: at(300) }).transitions)).toEqual(['gone raised@71=289000']);
  });

  it('names each line that is not a record', () => {
    const text = ['{"metric":"t","value":1,"ts":1}', 'not json', '{"metric":"t"}', '42'].join('\n');
    expect(parseRecords(text, DEVICE).errors).toEqual(['line 2: not JSON', 'line 3: not a reading, device event or dead letter', 'line 4: not a reading, device event or dead letter']);
    expect(parseRecords('[1, {"metric":"t","value":1,"ts":1}]', DEVICE).errors).toEqual(['[0]: not a reading, device event or dead letter']);
    expect(parseRecords('[1,', DEVICE).errors[0]).toMatch(/^file: not a JSON array/);
  });
});

describe('formatTransition', () => {
  it('writes one line: time, transition, severity, rule, device, value, window, reason, id and seq', () => {
    const alert: AlertTransition = {
      alertId: '0123456789abcdef',
      ruleId: 'warm',
      deviceId: DEVICE,
      severity: 'warning',
      transition: 'cleared',
      state: 'cleared',
      value: 22.123456,
      metric: 'temperature',
      window: { from: at(0), to: at(10) },
      raisedAt: at(0),
      ts: at(10),
      seq: 2,
      description: 'warm',
      clearReason: 'rule-removed',
    };
    expect(formatTransition(alert)).toBe(
      '2024-01-01T12:00:10.000Z CLEARED warning warm dev-1 temperature=22.123 window 2024-01-01T12:00:00.000Z..2024-01-01T12:00:10.000Z (rule-removed) [0123456789abcdef#2]',
    );
  });
});
