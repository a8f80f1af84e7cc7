import { describe, expect, it } from 'vitest';
import { normalize } from '../../../bridge/normalize/index.js';
import { DOCUMENT_FORMATS as FORMATS } from '../../../core/reading.js';
import { telemetryTopic } from '../../../core/topics.js';
import { encode } from '../../../simulators/encoders.js';
import { PROFILE_NAMES, getProfile, profileForDevice } from '../../../simulators/profiles.js';
import { malformedPayload, oversizedPayload } from '../../../simulators/faults.js';

const receivedAt = Date.UTC(2025, 5, 1, 12, 0, 1);
const ts = receivedAt - 1234;

describe('encoders: every payload normalizes to the sample it encodes', () => {
  for (const format of FORMATS) {
    it.each(PROFILE_NAMES.filter((p) => p !== 'mixed'))(`${format} / %s`, (name) => {
      const profile = profileForDevice(getProfile(name), 0);
      const metrics = profile.sample(11, 0, ts);
      const deviceId = 'sim-1';
      const payload = encode(format, { deviceId, metrics, units: profile.units, ts });
      const result = normalize({ deviceId, topic: telemetryTopic(deviceId), payload: Buffer.from(payload), receivedAt });
      expect(result.rejections).toEqual([]);
      const readings = result.readings.map((r) => ({ metric: r.metric, value: r.value, ts: r.ts, unit: r.unit, deviceId: r.deviceId }));
      const expected = Object.entries(metrics).map(([metric, value]) => ({
        metric,
        value,
        ts,
        // Line protocol has no place for a unit.
        unit: format === 'line' ? undefined : profile.units[metric],
        deviceId,
      }));
      expect(readings.sort((a, b) => a.metric.localeCompare(b.metric))).toEqual(expected.sort((a, b) => a.metric.localeCompare(b.metric)));
    });
  }
});

describe('fault payloads are rejected by the normalizer', () => {
  const sample = { deviceId: 'sim-1', metrics: { temperature: 21.5, humidity: 40 }, units: {}, ts };

  it.each(FORMATS)('a malformed %s payload is INVALID_JSON', (format) => {
    const payload = malformedPayload(encode(format, sample));
    const result = normalize({ deviceId: 'sim-1', topic: telemetryTopic('sim-1'), payload: Buffer.from(payload), receivedAt });
    expect(result.readings).toEqual([]);
    expect(result.rejections.map((r) => r.code)).toEqual(['INVALID_JSON']);
  });

  it('an oversized payload is PAYLOAD_TOO_LARGE', () => {
    const payload = oversizedPayload(70_000);
    expect(Buffer.byteLength(payload)).toBe(70_000);
    const result = normalize({ deviceId: 'sim-1', topic: telemetryTopic('sim-1'), payload: Buffer.from(payload), receivedAt });
    expect(result.rejections.map((r) => r.code)).toEqual(['PAYLOAD_TOO_LARGE']);
  });

  it('a clock-skewed time far ahead is replaced by the receive time and tagged', () => {
    const payload = encode('json', { ...sample, ts: receivedAt + 3_600_000 });
    const result = normalize({ deviceId: 'sim-1', topic: telemetryTopic('sim-1'), payload: Buffer.from(payload), receivedAt });
    expect(result.readings).toHaveLength(2);
    for (const reading of result.readings) {
      expect(reading.ts).toBe(receivedAt);
      expect(reading.tags).toMatchObject({ ts_corrected: 'future' });
    }
  });
});
