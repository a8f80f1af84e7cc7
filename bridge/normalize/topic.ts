/**
 * Telemetry topics (contract: DESIGN.md §2 "MQTT topics"):
 *
 *   devices/{id}/telemetry            any supported format, detected from the content
 *   devices/{id}/telemetry/{metric}   one plain value for {metric}
 *   devices/{id}/telemetry/$json      forced format: JSON
 *   devices/{id}/telemetry/$senml     forced format: SenML JSON (RFC 8428)
 *   devices/{id}/telemetry/$line      forced format: InfluxDB line protocol
 *
 * A last segment starting with `$` is reserved for format suffixes, so an unknown `$…` suffix is not read as a
 * metric called `$…`: the topic is simply not a telemetry topic.
 */

export type TopicFormat = 'json' | 'senml' | 'line';

export interface TelemetryTopic {
  deviceId: string;
  metric?: string;
  format?: TopicFormat;
}

const SUFFIX_FORMATS: ReadonlyMap<string, TopicFormat> = new Map([
  ['$json', 'json'],
  ['$senml', 'senml'],
  ['$line', 'line'],
]);

/** Wildcards can never appear in a PUBLISH topic [MQTT-3.3.2-2]; seeing one means the caller passed a filter. */
function isPlainSegment(segment: string | undefined): segment is string {
  return segment !== undefined && segment !== '' && !segment.includes('+') && !segment.includes('#');
}

export function parseTelemetryTopic(topic: string): TelemetryTopic | null {
  if (typeof topic !== 'string') return null;
  const segments = topic.split('/');
  if (segments.length !== 3 && segments.length !== 4) return null;
  const [root, deviceId, kind, suffix] = segments;
  if (root !== 'devices' || kind !== 'telemetry' || !isPlainSegment(deviceId)) return null;
  if (segments.length === 3) return { deviceId };
  if (!isPlainSegment(suffix)) return null;
  if (suffix.startsWith('$')) {
    const format = SUFFIX_FORMATS.get(suffix);
    return format === undefined ? null : { deviceId, format };
  }
  return { deviceId, metric: suffix };
}
