/**
 * The topic ACL of docs/contracts.md §4: a device publishes only under `devices/{its id}/` (telemetry and status)
 * and subscribes only to its own `devices/{its id}/commands/#`. Pure, so it is tested table-style.
 */
export type PublishDecision =
  | { allowed: true; kind: 'telemetry' | 'status' }
  | { allowed: false; reason: string };

export function decidePublish(deviceId: string, topic: string): PublishDecision {
  const levels = topic.split('/');
  if (levels[0] !== 'devices' || levels[1] !== deviceId) {
    return { allowed: false, reason: `device "${deviceId}" may publish only under devices/${deviceId}/` };
  }
  if (levels[2] === 'telemetry') return { allowed: true, kind: 'telemetry' };
  if (levels[2] === 'status' && levels.length === 3) return { allowed: true, kind: 'status' };
  return { allowed: false, reason: `topic ${topic} is not a telemetry or status topic` };
}

/** `devices/{id}/telemetry` or below it, for a topic the ACL has already allowed. */
export function isTelemetryTopic(topic: string): boolean {
  if (!topic.startsWith('devices/')) return false;
  const idEnd = topic.indexOf('/', 8);
  return idEnd > 8 && topic.startsWith('telemetry', idEnd + 1) && (topic.length === idEnd + 10 || topic[idEnd + 10] === '/');
}

export function decideSubscribe(deviceId: string, filter: string): { allowed: true } | { allowed: false; reason: string } {
  const own = `devices/${deviceId}/commands`;
  if (filter === own || filter === `${own}/#` || (filter.startsWith(`${own}/`) && !filter.startsWith('$'))) {
    return { allowed: true };
  }
  return { allowed: false, reason: `device "${deviceId}" may subscribe only to ${own}/#` };
}
