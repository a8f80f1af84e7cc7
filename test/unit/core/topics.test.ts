import { describe, expect, it } from 'vitest';
import { DOCUMENT_FORMATS } from '../../../core/reading.js';
import { parseTelemetryTopic, TELEMETRY_TOPIC_SHAPE, telemetryTopic } from '../../../core/topics.js';

describe('parseTelemetryTopic', () => {
  it.each([
    ['devices/d1/telemetry', { deviceId: 'd1' }],
    ['devices/d1/telemetry/temperature', { deviceId: 'd1', metric: 'temperature' }],
    ['devices/d1/telemetry/$json', { deviceId: 'd1', format: 'json' }],
    ['devices/d1/telemetry/$senml', { deviceId: 'd1', format: 'senml' }],
    ['devices/d1/telemetry/$line', { deviceId: 'd1', format: 'line' }],
    ['devices/sensor-01.lab/telemetry', { deviceId: 'sensor-01.lab' }],
    ['devices/d1/telemetry/bad name', { deviceId: 'd1', metric: 'bad name' }],
  ])('accepts %s', (topic, expected) => {
    expect(parseTelemetryTopic(topic)).toStrictEqual(expected);
  });

  it.each([
    ['the status topic', 'devices/d1/status'],
    ['a command topic', 'devices/d1/commands/reboot'],
    ['an empty device id', 'devices//telemetry'],
    ['an empty metric', 'devices/d1/telemetry/'],
    ['a metric path with more levels', 'devices/d1/telemetry/a/b'],
    ['an unknown $ suffix', 'devices/d1/telemetry/$xml'],
    ['the $value suffix, which is not a topic format', 'devices/d1/telemetry/$value'],
    ['a single-level wildcard', 'devices/+/telemetry'],
    ['a multi-level wildcard', 'devices/d1/telemetry/#'],
    ['a leading slash', '/devices/d1/telemetry'],
    ['another root', 'things/d1/telemetry'],
    ['case differences', 'Devices/d1/Telemetry'],
    ['the empty string', ''],
    ['a non-string', 42 as unknown as string],
  ])('rejects %s', (_name, topic) => {
    expect(parseTelemetryTopic(topic)).toBeNull();
  });
});

describe('telemetryTopic', () => {
  it.each([
    [telemetryTopic('d1'), 'devices/d1/telemetry'],
    [telemetryTopic('d1', { metric: 'temperature' }), 'devices/d1/telemetry/temperature'],
    [telemetryTopic('d1', { format: 'json' }), 'devices/d1/telemetry/$json'],
    [telemetryTopic('d1', { format: 'senml' }), 'devices/d1/telemetry/$senml'],
    [telemetryTopic('d1', { format: 'line' }), 'devices/d1/telemetry/$line'],
  ])('builds %s', (built, expected) => {
    expect(built).toBe(expected);
  });

  it('builds what parseTelemetryTopic reads back, for every level', () => {
    expect(parseTelemetryTopic(telemetryTopic('sensor-01.lab'))).toStrictEqual({ deviceId: 'sensor-01.lab' });
    expect(parseTelemetryTopic(telemetryTopic('d1', { metric: 'temperature' }))).toStrictEqual({ deviceId: 'd1', metric: 'temperature' });
    for (const format of DOCUMENT_FORMATS) {
      expect(parseTelemetryTopic(telemetryTopic('d1', { format }))).toStrictEqual({ deviceId: 'd1', format });
    }
  });

  it('names every topic format in the shape rejections quote', () => {
    expect(TELEMETRY_TOPIC_SHAPE).toBe('devices/{id}/telemetry[/{metric}|/$json|/$senml|/$line]');
  });
});
