/**
 * Payload encoders: one sample (metrics + units + device time) → an MQTT telemetry message in a format the
 * normalizer reads (bridge/normalize/): plain JSON, SenML JSON (RFC 8428) or InfluxDB line protocol, the
 * DOCUMENT_FORMATS of core/reading.ts. All are published on `devices/{id}/telemetry` (telemetryTopic in
 * core/topics.ts) and found by content detection.
 */
import type { DocumentFormat } from '../core/reading.js';
import type { Metrics } from './profiles.js';

export interface Sample {
  deviceId: string;
  metrics: Metrics;
  units: Readonly<Record<string, string>>;
  /** Device time, epoch ms. */
  ts: number;
}

/** `{"ts":…,"temperature":21.5,…,"units":{"temperature":"Cel",…}}` */
export function encodeJson(sample: Sample): string {
  const units: Record<string, string> = {};
  for (const name of Object.keys(sample.metrics)) {
    const unit = sample.units[name];
    if (unit !== undefined) units[name] = unit;
  }
  return JSON.stringify({ ts: sample.ts, ...sample.metrics, ...(Object.keys(units).length > 0 ? { units } : {}) });
}

/**
 * A SenML pack (RFC 8428 §4): the base name is a device prefix ending in `:` (so metric = `n`, see
 * bridge/normalize/senml.ts), the base time is the device time in seconds, every record has `n`, `u`, `v`.
 */
export function encodeSenml(sample: Sample): string {
  const records = Object.entries(sample.metrics).map(([name, value], index) => {
    const unit = sample.units[name];
    return {
      ...(index === 0 ? { bn: `urn:dev:sluice:${sample.deviceId}:`, bt: sample.ts / 1000 } : {}),
      n: name,
      ...(unit === undefined ? {} : { u: unit }),
      v: value,
    };
  });
  return JSON.stringify(records);
}

/** One line per metric, field `value` (so the metric keeps its name), timestamp in milliseconds. */
export function encodeLine(sample: Sample): string {
  return Object.entries(sample.metrics)
    .map(([name, value]) => `${name} value=${formatFloat(value)} ${Math.round(sample.ts)}`)
    .join('\n');
}

/** Line protocol floats need no suffix: "21" is a float, only "21i" would be an integer. */
function formatFloat(value: number): string {
  return String(value);
}

export function encode(format: DocumentFormat, sample: Sample): string {
  switch (format) {
    case 'json':
      return encodeJson(sample);
    case 'senml':
      return encodeSenml(sample);
    case 'line':
      return encodeLine(sample);
  }
}
