import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../core/alerts.js';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { createRuleEngine, type RuleEngine } from '../../../rules/engine.js';
import { formatRuleFileError, parseRuleFile, type Rule } from '../../../rules/schema.js';
import { environment } from '../../../simulators/profiles.js';
import { timeNsOfMs } from '../../../core/reading.js';

const path = join(import.meta.dirname, '..', '..', '..', 'rules', 'examples', 'demo-rules.yaml');

function demoRules(): Rule[] {
  const result = parseRuleFile(readFileSync(path, 'utf8'), 'demo-rules.yaml');
  if (!result.ok) throw new Error(result.errors.map(formatRuleFileError).join('\n'));
  return result.rules;
}

/** `seconds` of a 20-device environment fleet at 1 Hz from `from`, through the engine. */
function simulate(engine: RuleEngine, from: number, seconds: number): AlertTransition[] {
  const out: AlertTransition[] = [];
  for (let second = 0; second < seconds; second++) {
    const ts = from + second * 1000;
    out.push(...engine.tick(ts));
    for (let device = 0; device < 20; device++) {
      for (const [metric, value] of Object.entries(environment.sample(1, device, ts))) {
        out.push(...engine.apply({ kind: 'reading', reading: { deviceId: `sim-${device}`, metric, value, ts, timeNs: timeNsOfMs(ts), receivedAt: ts } }));
      }
    }
  }
  return out;
}

const raisedBy = (transitions: AlertTransition[]): Set<string> => new Set(transitions.filter((alert) => alert.transition === 'raised').map((alert) => alert.ruleId));

describe('rules/examples/demo-rules.yaml', () => {
  it('is a valid rules file', () => {
    expect(demoRules().map((rule) => rule.id)).toEqual(['room-warm', 'vibration-burst', 'battery-low', 'room-humid-avg', 'temperature-jump', 'device-silent', 'device-offline', 'bad-payloads', 'login-storm']);
  });

  it('fires its threshold rule on an afternoon and its humidity rule on a night of the simulated fleet, and nothing else', () => {
    const afternoon = Date.UTC(2024, 0, 1, 15);
    const night = Date.UTC(2024, 0, 2, 3);
    expect([...raisedBy(simulate(createRuleEngine({ rules: demoRules(), now: () => afternoon }), afternoon, 60))]).toEqual(['room-warm']);
    expect([...raisedBy(simulate(createRuleEngine({ rules: demoRules(), now: () => night }), night, 60))]).toEqual(['room-humid-avg']);
  });

  it('fires its silence, offline, dead-letter and login rules on a fleet in trouble', () => {
    const start = Date.UTC(2024, 0, 1, 9);
    const engine = createRuleEngine({ rules: demoRules(), now: () => start });
    simulate(engine, start, 5);
    const trouble: RuleInput[] = [
      { kind: 'event', event: { deviceId: 'sim-1', type: 'offline', reason: 'keepalive', ts: start + 5000 } },
      ...Array.from({ length: 5 }, (_, index): RuleInput => ({ kind: 'deadletter', deadLetter: { deviceId: 'sim-2', code: 'MALFORMED', reason: 'x', topic: 't', payload: '', receivedAt: start + 5000 + index } })),
      ...Array.from({ length: 10 }, (_, index): RuleInput => ({ kind: 'event', event: { deviceId: 'sim-3', type: 'auth-failed', reason: 'BAD_SECRET', ts: start + 5000 + index } })),
    ];
    const transitions = [...trouble.flatMap((input) => engine.apply(input)), ...engine.tick(start + 3 * 60_000)];
    const raised = transitions.filter((alert) => alert.transition === 'raised');
    expect(raised.filter((alert) => alert.ruleId === 'device-silent')).toHaveLength(20);
    expect(raised.filter((alert) => alert.ruleId !== 'device-silent').map((alert) => [alert.ruleId, alert.deviceId])).toEqual([
      ['bad-payloads', 'sim-2'],
      ['login-storm', 'sim-3'],
      ['device-offline', 'sim-1'],
    ]);
  });
});
