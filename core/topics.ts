/**
 * Telemetry topics (contract: docs/contracts.md §4 MQTT), parsed and built here only:
 *
 *   devices/{id}/telemetry            any supported format, detected from the content
 *   devices/{id}/telemetry/{metric}   one plain value for {metric}
 *   devices/{id}/telemetry/$json      forced format: JSON
 *   devices/{id}/telemetry/$senml     forced format: SenML JSON (RFC 8428)
 *   devices/{id}/telemetry/$line      forced format: InfluxDB line protocol
 *
 * The `$…` suffixes are DOCUMENT_FORMATS (core/reading.ts). A last segment starting with `$` is reserved for them,
 * so an unknown `$…` suffix is not read as a metric called `$…`: the topic is simply not a telemetry topic.
 *
 * The MQTT side of the record format, beside core/records.ts rather than in it: the bridge reads these topics, a
 * dead letter carries one, and devices, simulators and the bench build them; none of that is about Kafka.
 */
import { DOCUMENT_FORMATS, type DocumentFormat } from './reading.js';

export interface TelemetryTopic {
  deviceId: string;
  metric?: string;
  format?: DocumentFormat;
}

/** What may follow `devices/{id}/telemetry`: nothing, one metric, or one forced format. */
export type TelemetryTopicLevel = { metric: string } | { format: DocumentFormat };

/** The topic grammar in one line, for messages: `devices/{id}/telemetry[/{metric}|/$json|/$senml|/$line]`. */
export const TELEMETRY_TOPIC_SHAPE = `devices/{id}/telemetry[/{metric}|${DOCUMENT_FORMATS.map((format) => `/$${format}`).join('|')}]`;

const SUFFIX_FORMATS: ReadonlyMap<string, DocumentFormat> = new Map(DOCUMENT_FORMATS.map((format) => [`$${format}`, format]));

/** Wildcards can never appear in a PUBLISH topic [MQTT-3.3.2-2]; seeing one means the caller passed a filter. */
function isPlainSegment(segment: string | undefined): segment is string {
  return segment !== undefined && segment !== '' && !segment.includes('+') && !segment.includes('#');
}

/** The parts of a telemetry topic, or null when `topic` is not one (wrong shape, filter, unknown `$` suffix). */
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

/**
 * `devices/{deviceId}/telemetry`, or below it for one metric or a forced format. Builds only: whether a device id
 * or metric makes a valid topic is parseTelemetryTopic's (and the gateway's) to say, so a test can build the topic
 * of a device that should be refused.
 */
export function telemetryTopic(deviceId: string, level?: TelemetryTopicLevel): string {
  const base = `devices/${deviceId}/telemetry`;
  if (level === undefined) return base;
  return 'metric' in level ? `${base}/${level.metric}` : `${base}/$${level.format}`;
}
