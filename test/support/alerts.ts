import type { AlertTransition } from '../../core/alerts.js';

/** A raised alert of the room-warm rule on dev-1, at 1,000 ms; `overrides` change any field. */
export function raisedAlert(id: string, overrides: Partial<AlertTransition> = {}): AlertTransition {
  return {
    alertId: id,
    ruleId: 'room-warm',
    deviceId: 'dev-1',
    severity: 'warning',
    transition: 'raised',
    state: 'open',
    value: 25,
    metric: 'temperature',
    raisedAt: 1_000,
    ts: 1_000,
    seq: 1,
    description: 'Room above 24 °C',
    ...overrides,
  };
}

/** A rules file with one critical rule: `deviceId`'s temperature above 50. */
export function tooHotRulesFile(ruleId: string, deviceId: string, description: string): string {
  return `rules:
  - id: ${ruleId}
    description: ${description}
    severity: critical
    devices:
      ids: [${deviceId}]
    condition:
      type: threshold
      metrics: [temperature]
      above: 50
`;
}
