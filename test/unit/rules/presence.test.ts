import { describe, expect, it } from 'vitest';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { at, brief, briefs, DEVICE, engineFor, event, reading, rule, run, tick } from './support.js';

describe('silence condition', () => {
  const silent30s = rule({ type: 'silence', after: '30s' });

  it.each([
    ['raises once when no reading came for `after`, stamped when the timer ran out', [reading('t', 1, 0), tick(20), tick(31), tick(40)], ['raised@30=31000']],
    ['clears on the next reading, with how long the device was silent', [reading('t', 1, 0), tick(31), reading('t', 2, 45)], ['raised@30=31000', 'cleared@45=45000']],
    ['a reading before the timer runs out restarts it', [reading('t', 1, 0), tick(25), reading('t', 1, 25), tick(50), tick(56)], ['raised@55=31000']],
    ['any value is a sign of life, strings and NaN included', [reading('t', 'x', 0), reading('t', Number.NaN, 20), tick(45)], []],
    ['nothing before the first reading', [tick(100)], []],
  ])('%s', (_name, inputs, expected) => {
    expect(briefs(silent30s, inputs)).toEqual(expected);
  });

  it('times out on the gateway clock (receivedAt), not on device time', () => {
    const skewed = reading('t', 1, 0, { ts: 0 });
    expect(briefs(silent30s, [skewed, tick(20)])).toEqual([]);
  });

  it('with a metric, only readings of that metric count, and a metric never seen raises nothing', () => {
    const silentTemperature = rule({ type: 'silence', metric: 'temperature', after: '30s' });
    expect(briefs(silentTemperature, [reading('temperature', 20, 0), reading('humidity', 40, 20), tick(31)])).toEqual(['raised@30=31000']);
    expect(briefs(silentTemperature, [reading('humidity', 40, 0), tick(100)])).toEqual([]);
  });

  it('gives the same alert id however late the tick that notices comes', () => {
    const early = run(silent30s, [reading('t', 1, 0), tick(31)]).transitions;
    const late = run(silent30s, [reading('t', 1, 0), tick(300)]).transitions;
    expect(late[0]?.alertId).toBe(early[0]?.alertId);
    expect(late.map(brief)).toEqual(['raised@30=300000']);
  });
});

describe('offline condition', () => {
  const offline2m = rule({ type: 'offline', after: '2m' });

  it.each([
    ['raises when the last event has been `offline` for `after`; clears on `online`', [event('offline', 0), tick(60), tick(121), event('online', 130)], ['raised@120=121000', 'cleared@130=130000']],
    ['back online in time: nothing', [event('offline', 0), event('online', 60), tick(500)], []],
    ['the outage runs from the first `offline`', [event('offline', 0), event('offline', 100), tick(121)], ['raised@120=121000']],
    ['an older event arriving after a newer one is stale', [event('offline', 10), event('online', 5), tick(131)], ['raised@130=121000']],
    ['other events neither start nor end an outage', [event('auth-failed', 0), event('offline', 10), event('refused', 20), tick(131)], ['raised@130=121000']],
  ])('%s', (_name, inputs, expected) => {
    expect(briefs(offline2m, inputs)).toEqual(expected);
  });

  // A device on gateway A since 0 reconnects through gateway B at 10; A closes its old connection (`takeover`) just
  // after, so A's offline comes after B's online. Status is ordered by connection (core/device-status.ts).
  const onA = connected('online', 0, 'gw-a#1', 0);
  const onB = connected('online', 10, 'gw-b#1', 10);
  const takeoverA = connected('offline', 10.003, 'gw-a#1', 0);
  it.each([
    ['the old connection’s takeover offline after the new online starts no outage', [onA, onB, takeoverA, tick(500)], []],
    ['the old connection’s offline before the new online: back online in time', [onA, takeoverA, onB, tick(500)], []],
    ['the new connection going offline for real raises', [onA, onB, takeoverA, connected('offline', 200, 'gw-b#1', 10), tick(321)], ['raised@320=121000']],
    ['its online repeated after its offline does not clear the outage', [onB, connected('offline', 200, 'gw-b#1', 10), onB, tick(321)], ['raised@320=121000']],
  ])('%s', (_name, inputs, expected) => {
    expect(briefs(offline2m, inputs)).toEqual(expected);
  });

  it('a state restored from before connections were kept orders the next event by ts', () => {
    const { engine } = run(offline2m, [event('online', 0)]);
    const [saved] = engine.snapshot(DEVICE);
    const restored = engineFor([offline2m]);
    restored.restore(DEVICE, saved!.ruleId, saved!.state);
    const transitions = [takeoverA, tick(200)].flatMap((input) => restored.apply(input));
    expect(transitions.map(brief)).toEqual(['raised@130.003=189997']);
  });
});

function connected(type: 'online' | 'offline', seconds: number, session: string, connectedAtSeconds: number): RuleInput {
  return { kind: 'event', event: { deviceId: DEVICE, type, reason: 'test', ts: at(seconds), session, connectedAt: at(connectedAtSeconds) } };
}
