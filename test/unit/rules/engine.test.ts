import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../core/reading.js';
import { alertIdOf } from '../../../core/records.js';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { brief, deadLetter, DEVICE, engineFor, event, reading, rule, run, tick } from './support.js';

const hotWith = (fields: Record<string, unknown>) => rule({ type: 'threshold', metrics: ['temperature'], above: 80, clearAt: 75, ...fields }, { id: 'hot' });
const hot = hotWith({});
const t = (value: number, seconds: number, extra: Partial<Reading> = {}): RuleInput => reading('temperature', value, seconds, extra);

describe('rule engine: event time and lateness', () => {
  const countIn1m = rule({ type: 'window', metric: 'temperature', aggregate: 'count', window: '1m', above: 100 });

  it.each([
    ['within the allowed lateness: placed in its window', [t(1, 100), t(1, 95)], 0, 2],
    ['beyond it: dropped and counted', [t(1, 100), t(1, 94)], 1, 1],
    ['the watermark is the newest reading of any metric of the device', [reading('humidity', 1, 200), t(1, 100)], 1, 0],
  ])('%s', (_name, inputs, late, kept) => {
    const { engine } = run(countIn1m, inputs, 5_000);
    expect(engine.stats().lateReadings).toBe(late);
    const state = engine.snapshot(DEVICE)[0]?.state.condition;
    expect(state?.type === 'window' && state.buckets.reduce((sum, [, count]) => sum + count, 0)).toBe(kept);
  });

  it('counts a late reading once, however many rules drop it', () => {
    const { engine } = run([countIn1m, hot], [t(1, 100), t(1, 10)], 5_000);
    expect(engine.stats().lateReadings).toBe(1);
  });
});

describe('rule engine: alert records', () => {
  it('derives a stable alert id from rule, device and raise time, and numbers each transition', () => {
    const inputs = [t(81, 0), t(90, 1), t(70, 2)];
    const first = run(hot, inputs).transitions;
    const again = run(hot, inputs).transitions;
    expect(again).toEqual(first);
    expect(first.map((alert) => [alert.transition, alert.seq, alert.state])).toEqual([
      ['raised', 1, 'open'],
      ['updated', 2, 'open'],
      ['cleared', 3, 'cleared'],
    ]);
    expect(new Set(first.map((alert) => alert.alertId))).toEqual(new Set([alertIdOf('hot', DEVICE, first[0]!.raisedAt)]));
    expect(first[2]).toMatchObject({ ruleId: 'hot', deviceId: DEVICE, severity: 'warning', description: 'test rule', clearReason: 'condition', raisedAt: first[0]!.ts });
  });

  it('says when the rule wants the device told (notify.device), on every transition of the alert', () => {
    const telling = rule({ type: 'threshold', metrics: ['temperature'], above: 80 }, { notify: { device: true } });
    expect(run(telling, [t(81, 0), t(70, 1)]).transitions.map((alert) => alert.notifyDevice)).toEqual([true, true]);
    expect(run(hot, [t(81, 0)]).transitions[0]).not.toHaveProperty('notifyDevice');
  });

  it('gives a new id to an alert raised again later', () => {
    const ids = run(hot, [t(81, 0), t(70, 1), t(81, 2)]).transitions.map((alert) => alert.alertId);
    expect(ids[2]).not.toBe(ids[0]);
    expect(alertIdOf('hot', 'a', 1)).not.toBe(alertIdOf('hot', 'b', 1));
    expect(alertIdOf('hot', 'a', 1)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('acknowledges an open alert as a transition of its own, carried by the ones after it', () => {
    const engine = engineFor([hot]);
    const [raised] = engine.apply(t(81, 0));
    const ack = engine.acknowledge(raised!.alertId, 'ops@example.com');
    expect(ack).toMatchObject({ transition: 'acknowledged', state: 'open', seq: 2, ackBy: 'ops@example.com' });
    expect(engine.apply(t(70, 1))[0]).toMatchObject({ transition: 'cleared', seq: 3, ackBy: 'ops@example.com' });
    expect(engine.acknowledge(raised!.alertId, 'late')).toBeUndefined();
  });
});

describe('rule engine: state for the changelog', () => {
  it('behaves the same after snapshot → JSON → restore, and does not raise an open alert twice', () => {
    const original = engineFor([hot]);
    const [raised] = original.apply(t(81, 0));
    const restored = engineFor([hot]);
    for (const { ruleId, state } of original.snapshot(DEVICE)) {
      expect(restored.restore(DEVICE, ruleId, JSON.parse(JSON.stringify(state)))).toEqual({ restored: true, transitions: [] });
    }
    const rest = [t(83, 1), t(95, 2), t(70, 3)];
    const afterRestore = rest.flatMap((input) => restored.apply(input));
    expect(afterRestore).toEqual(rest.flatMap((input) => original.apply(input)));
    expect(afterRestore.map((alert) => [alert.transition, alert.alertId, alert.seq])).toEqual([
      ['updated', raised!.alertId, 2],
      ['cleared', raised!.alertId, 3],
    ]);
  });

  const h = (value: number, seconds: number): RuleInput => reading('humidity', value, seconds);
  it.each([
    ['threshold with for', { type: 'threshold', metrics: ['temperature'], above: 80, for: '5s' }, [t(81, 0), t(82, 3)], [t(83, 6), t(70, 7)]],
    ['sliding window', { type: 'window', metric: 'humidity', aggregate: 'avg', window: '10s', above: 50 }, [h(40, 0), h(70, 2)], [h(52, 4), h(0, 13)]],
    ['tumbling window', { type: 'window', metric: 'humidity', aggregate: 'max', window: '10s', kind: 'tumbling', above: 50 }, [h(60, 1)], [h(40, 12), tick(200)]],
    ['rate', { type: 'rate', metric: 'humidity', perMinute: 10, over: '30s' }, [h(0, 0), h(10, 20)], [h(20, 40), h(20, 80)]],
    ['silence', { type: 'silence', after: '30s' }, [h(1, 0), tick(31)], [tick(40), h(1, 50)]],
    ['offline', { type: 'offline', after: '30s' }, [event('offline', 0)], [tick(31), event('online', 40)]],
    ['deadletters', { type: 'deadletters', count: 2, window: '1m' }, [deadLetter(0)], [deadLetter(1), tick(100)]],
    ['auth-failures', { type: 'auth-failures', count: 2, window: '1m' }, [event('auth-failed', 0)], [event('auth-failures', 1), tick(100)]],
  ])('%s: continues after snapshot → JSON → restore as if never stopped', (_name, condition, before, after) => {
    const ruleUnderTest = rule(condition);
    const uninterrupted = run(ruleUnderTest, [...before, ...after]).transitions;
    const first = engineFor([ruleUnderTest]);
    const beforeTransitions = before.flatMap((input) => first.apply(input));
    const second = engineFor([ruleUnderTest]);
    for (const { ruleId, state } of first.snapshot(DEVICE)) second.restore(DEVICE, ruleId, JSON.parse(JSON.stringify(state)));
    expect([...beforeTransitions, ...after.flatMap((input) => second.apply(input))]).toEqual(uninterrupted);
    expect(uninterrupted.map((alert) => alert.transition)).toEqual(['raised', 'cleared']);
  });

  it('lists the states changed since the last call, once', () => {
    const engine = engineFor([hot]);
    engine.apply(t(81, 0));
    expect(engine.takeChanges()).toEqual([{ deviceId: DEVICE, ruleId: 'hot', state: engine.snapshot(DEVICE)[0]?.state }]);
    expect(engine.takeChanges()).toEqual([]);
    engine.apply(event('online', 1));
    expect(engine.takeChanges()).toEqual([]);
  });

  it.each([
    ['not a state', { nonsense: true }, [] as string[]],
    ['a state of an edited condition, its open alert cleared', 'edited', ['cleared:rule-changed']],
  ])('drops a restored %s and asks for a tombstone', (_name, value, transitions) => {
    const source = engineFor([hot]);
    source.apply(t(81, 0));
    const state = value === 'edited' ? source.snapshot(DEVICE)[0]?.state : value;
    const engine = engineFor([hotWith({ clearAt: 70 })]);
    const result = engine.restore(DEVICE, 'hot', state);
    expect(result.restored).toBe(false);
    expect(result.transitions.map((alert) => `${alert.transition}:${alert.clearReason}`)).toEqual(transitions);
    expect(engine.takeChanges()).toEqual([{ deviceId: DEVICE, ruleId: 'hot', state: null }]);
  });
});

describe('rule engine: hot reload', () => {
  const silent = rule({ type: 'silence', after: '30s' }, { id: 'silent' });

  it.each([
    ['rule removed', [silent], 'rule-removed'],
    ['rule disabled', [{ ...hot, enabled: false }, silent], 'rule-disabled'],
    ['condition edited', [hotWith({ above: 90 }), silent], 'rule-changed'],
    ['selector no longer picks the device', [{ ...hot, devices: { match: 'other-*' } }, silent], 'device-unselected'],
  ])('%s: the open alert is cleared with that reason and its state dropped', (_name, next, reason) => {
    const engine = engineFor([hot, silent]);
    const [raised] = engine.apply(t(81, 0));
    expect(engine.setRules(next)).toEqual([expect.objectContaining({ alertId: raised!.alertId, transition: 'cleared', seq: 2, clearReason: reason })]);
    expect(engine.snapshot(DEVICE).map((entry) => entry.ruleId)).toEqual(['silent']);
  });

  it('keeps the state of a rule whose id and condition are unchanged, whatever else changed', () => {
    const engine = engineFor([hot]);
    engine.apply(t(81, 0));
    expect(engine.setRules([{ ...hot, description: 'reworded', severity: 'critical' }])).toEqual([]);
    expect(engine.apply(t(82, 1))).toEqual([]);
    expect(engine.apply(t(70, 2))).toEqual([expect.objectContaining({ transition: 'cleared', severity: 'critical', description: 'reworded' })]);
  });

  it('starts a new rule from nothing', () => {
    const engine = engineFor([]);
    engine.apply(t(81, 0));
    engine.setRules([hot]);
    expect(engine.apply(t(82, 1)).map(brief)).toEqual(['raised@1=82']);
  });
});

describe('rule engine: device selectors', () => {
  const picked = (devices: Record<string, unknown>, input: RuleInput) => run(rule({ type: 'threshold', metrics: ['temperature'], above: 80 }, { devices }), [input]).transitions.length === 1;

  it.each([
    ['no selector: every device', {}, t(81, 0), true],
    ['ids', { ids: ['dev-1', 'dev-9'] }, t(81, 0), true],
    ['ids, not listed', { ids: ['dev-2'] }, t(81, 0), false],
    ['glob *', { match: 'dev-*' }, t(81, 0), true],
    ['glob ? is one character', { match: 'dev-??' }, t(81, 0), false],
    ['glob is anchored and literal otherwise', { match: 'dev.1' }, t(81, 0), false],
    ['tags on the reading', { tags: { room: 'cold' } }, t(81, 0, { tags: { room: 'cold', floor: '2' } }), true],
    ['tags, another value', { tags: { room: 'cold' } }, t(81, 0, { tags: { room: 'hall' } }), false],
    ['tags, none known', { tags: { room: 'cold' } }, t(81, 0), false],
    ['all fields must match', { match: 'dev-*', tags: { room: 'cold' } }, t(81, 0, { tags: { room: 'hall' } }), false],
  ])('%s', (_name, devices, input, expected) => {
    expect(picked(devices, input)).toBe(expected);
  });

  it('applies tag selectors to events by the tags of the device’s readings', () => {
    const offline = rule({ type: 'offline', after: '1m' }, { devices: { tags: { site: 'north' } } });
    const inputs = [reading('temperature', 20, 0, { tags: { site: 'north' } }), event('offline', 1), event('offline', 1, 'untagged'), tick(100)];
    expect(run(offline, inputs).transitions.map((alert) => alert.deviceId)).toEqual([DEVICE]);
  });
});

describe('rule engine: state()', () => {
  it('lists every rule with its open alerts: device, since, value', () => {
    const engine = engineFor([hot, rule({ type: 'silence', after: '30s' }, { id: 'silent', severity: 'critical' })]);
    const [raised] = engine.apply(t(81, 0));
    engine.apply(t(90, 1, { deviceId: 'dev-2' }));
    expect(engine.state()).toEqual([
      {
        ruleId: 'hot',
        description: 'test rule',
        severity: 'warning',
        enabled: true,
        open: [
          { deviceId: DEVICE, alertId: raised!.alertId, since: raised!.raisedAt, value: 81, metric: 'temperature' },
          expect.objectContaining({ deviceId: 'dev-2', value: 90 }),
        ],
      },
      { ruleId: 'silent', description: 'test rule', severity: 'critical', enabled: true, open: [] },
    ]);
  });
});
