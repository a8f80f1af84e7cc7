import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../core/alerts.js';
import { decodeAlert as decodeRecord, encodeAlert } from '../../../core/records.js';

const decodeAlert = (text: string | Buffer) => decodeRecord({ value: Buffer.from(text) });

const alert: AlertTransition = {
  alertId: '0123456789abcdef',
  ruleId: 'room-warm',
  deviceId: 'dev-1',
  severity: 'warning',
  transition: 'cleared',
  state: 'cleared',
  value: 22.5,
  metric: 'temperature',
  window: { from: 1, to: 2 },
  raisedAt: 1,
  ts: 2,
  seq: 3,
  description: 'Room above 24 °C',
  ackBy: 'ops',
  ackAt: 2,
  clearReason: 'condition',
  notifyDevice: true,
};

describe('alert records', () => {
  it('round-trip through encodeAlert and decodeAlert, keyed by device, timed by the transition', () => {
    const record = encodeAlert(alert);
    expect(record.key).toBe('dev-1');
    expect(record.timestamp).toBe(alert.ts);
    expect(decodeAlert(record.value)).toEqual(alert);
    expect(decodeAlert(Buffer.from(record.value))).toEqual(alert);
  });

  it('still decode with fields a newer Sluice added', () => {
    expect(decodeAlert(JSON.stringify({ ...alert, channel: 'sms' }))).toMatchObject(alert);
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '42'],
    ['missing alertId', JSON.stringify({ ...alert, alertId: undefined })],
    ['unknown severity', JSON.stringify({ ...alert, severity: 'fatal' })],
    ['unknown transition', JSON.stringify({ ...alert, transition: 'snoozed' })],
    ['seq 0', JSON.stringify({ ...alert, seq: 0 })],
    ['value not a number', JSON.stringify({ ...alert, value: '22.5' })],
    ['unknown clear reason', JSON.stringify({ ...alert, clearReason: 'bored' })],
  ])('decode to undefined when %s', (_name, text) => {
    expect(decodeAlert(text)).toBeUndefined();
  });
});
