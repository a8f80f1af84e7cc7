import { describe, expect, it } from 'vitest';
import { decidePublish, decideSubscribe, isTelemetryTopic } from '../../../gateway/topics.js';

describe('topic ACL', () => {
  it.each([
    ['devices/d1/telemetry', true, 'telemetry'],
    ['devices/d1/telemetry/temperature', true, 'telemetry'],
    ['devices/d1/status', true, 'status'],
    ['devices/d2/telemetry', false, undefined],
    ['devices/d1/commands/reboot', false, undefined],
    ['devices/d1', false, undefined],
    ['$SYS/broker/x', false, undefined],
    ['other/d1/telemetry', false, undefined],
  ])('publish by d1 on %s → allowed %s', (topic, allowed, kind) => {
    const decision = decidePublish('d1', topic);
    expect(decision.allowed).toBe(allowed);
    if (decision.allowed) expect(decision.kind).toBe(kind);
  });

  it.each([
    ['devices/d1/commands/#', true],
    ['devices/d1/commands', true],
    ['devices/d1/commands/reboot', true],
    ['devices/d2/commands/#', false],
    ['devices/+/commands/#', false],
    ['#', false],
    ['$SYS/#', false],
  ])('subscribe by d1 to %s → allowed %s', (filter, allowed) => {
    expect(decideSubscribe('d1', filter).allowed).toBe(allowed);
  });
});

describe('isTelemetryTopic', () => {
  it.each([
    ['devices/d1/telemetry', true],
    ['devices/d1/telemetry/temperature', true],
    ['devices/d1/telemetry/$senml', true],
    ['devices/d1/status', false],
    ['devices/d1/telemetryx', false],
    ['devices//telemetry', false],
    ['devices/d1', false],
    ['other/d1/telemetry', false],
  ])('%s → %s', (topic, expected) => {
    expect(isTelemetryTopic(topic)).toBe(expected);
  });
});
