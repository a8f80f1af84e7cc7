import { describe, expect, it } from 'vitest';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { briefs, deadLetter, event, rule, run, tick } from './support.js';

/** The gateway thins auth-failed events to one per reason every 10 s, each carrying how many refusals it stands for. */
const withCount = (input: RuleInput, count: number): RuleInput => (input.kind === 'event' ? { ...input, event: { ...input.event, count } } : input);

describe('deadletters condition', () => {
  const threeAMinute = rule({ type: 'deadletters', count: 3, window: '1m' });

  it.each([
    ['raises when the count in the window reaches `count`', [deadLetter(0), deadLetter(10), deadLetter(20)], ['raised@20=3']],
    ['spread wider than the window: nothing', [deadLetter(0), deadLetter(40), deadLetter(80)], []],
    ['a tick clears it, stamped when the count fell below `count`', [deadLetter(0), deadLetter(10), deadLetter(20), tick(30), tick(61)], ['raised@20=3', 'cleared@60=2']],
    ['the next dead letter clears it too when the rest aged out', [deadLetter(0), deadLetter(10), deadLetter(20), deadLetter(75)], ['raised@20=3', 'cleared@60=2']],
    ['an update when the count doubles', [0, 1, 2, 3, 4, 5].map((second) => deadLetter(second)), ['raised@2=3', 'updated@5=6']],
    ['out of order within the window: counted', [deadLetter(10), deadLetter(20), deadLetter(5)], ['raised@20=3']],
  ])('%s', (_name, inputs, expected) => {
    expect(briefs(threeAMinute, inputs)).toEqual(expected);
  });

  it('forgets a device whose window emptied (no state grows with made-up ids)', () => {
    const { engine } = run(threeAMinute, [deadLetter(0), tick(30)]);
    expect(engine.stats().states).toBe(1);
    engine.tick(Date.UTC(2024, 0, 1, 13));
    expect(engine.stats().states).toBe(0);
    expect(engine.takeChanges()).toEqual([{ deviceId: 'dev-1', ruleId: 'r1', state: null }]);
  });
});

describe('auth-failures condition', () => {
  it.each([
    ['auth-failed and auth-failures events count one each', [event('auth-failed', 0), event('auth-failures', 5), event('auth-failed', 9)], ['raised@9=3']],
    ['other events do not count', [event('auth-failed', 0), event('online', 1), event('refused', 2), event('offline', 3), event('auth-failed', 4)], []],
    ['counted per device id', [event('auth-failed', 0, 'a'), event('auth-failed', 1, 'b'), event('auth-failed', 2, 'a')], []],
    ['clears on tick once they age out', [event('auth-failed', 0), event('auth-failed', 1), event('auth-failed', 2), tick(62)], ['raised@2=3', 'cleared@60=0']],
    ['an auth-failed report counts the refused logins it stands for', [withCount(event('auth-failed', 0), 1), withCount(event('auth-failed', 10), 5)], ['raised@10=6']],
  ])('%s', (_name, inputs, expected) => {
    expect(briefs(rule({ type: 'auth-failures', count: 3, window: '1m' }), inputs)).toEqual(expected);
  });
});
