import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../../core/alerts.js';
import {
  createNotifyThrottle,
  entryCount,
  initialThrottleState,
  onTransition,
  policyOf,
  type Notification,
  type NotifyPolicy,
  type ThrottleState,
} from '../../../../rules/notify/throttle.js';
import { rule } from '../support.js';

const T0 = Date.UTC(2024, 0, 1, 12);
const s = (seconds: number): number => T0 + seconds * 1000;

type Action = 'raise' | 'update' | 'clear' | 'ack' | 'due';

/**
 * Plays a script of one rule on one device against the throttle: `raise` opens a new alert (a, b, c…), the other
 * transitions continue it, `due` asks what is due. Returns what went out: `12 b#1 raised`, `900 a#1 raised r1`.
 */
function play(policy: NotifyPolicy, script: ReadonlyArray<[seconds: number, action: Action]>, initial?: ThrottleState): { sent: string[]; state: ThrottleState } {
  const throttle = createNotifyThrottle(() => policy, initial);
  const sent: string[] = [];
  let alert: AlertTransition | undefined;
  let alerts = 0;
  const show = (at: number, notification: Notification): string =>
    `${at} ${notification.alert.alertId}#${notification.alert.seq} ${notification.alert.transition}${notification.repeat > 0 ? ` r${notification.repeat}` : ''}`;
  for (const [at, action] of script) {
    if (action === 'due') {
      for (const notification of throttle.due(s(at))) sent.push(show(at, notification));
      continue;
    }
    alert = next(alert, action, at, () => String.fromCharCode(97 + alerts++));
    const notification = throttle.decide(alert, s(at));
    if (notification !== undefined) sent.push(show(at, notification));
  }
  return { sent, state: throttle.state() };
}

function next(previous: AlertTransition | undefined, action: Exclude<Action, 'due'>, at: number, newId: () => string): AlertTransition {
  if (action === 'raise' || previous === undefined) {
    return { alertId: newId(), ruleId: 'r1', deviceId: 'dev-1', severity: 'warning', transition: 'raised', state: 'open', value: 1, raisedAt: s(at), ts: s(at), seq: 1, description: 'test' };
  }
  const transition = action === 'update' ? 'updated' : action === 'clear' ? 'cleared' : 'acknowledged';
  const acked = action === 'ack' ? { ackBy: 'ops', ackAt: s(at) } : {};
  return { ...previous, ...acked, transition, state: action === 'clear' ? 'cleared' : 'open', ts: s(at), seq: previous.seq + 1 };
}

const MIN = { minInterval: 60_000 };
const REPEAT = { repeatEvery: 900_000 };

describe('notification throttle', () => {
  it.each<[string, NotifyPolicy, Array<[number, Action]>, string[]]>([
    ['no policy: every transition goes out at once, nothing repeats', {}, [[0, 'raise'], [1, 'update'], [2, 'clear'], [9999, 'due']], ['0 a#1 raised', '1 a#2 updated', '2 a#3 cleared']],
    [
      'minInterval: an update inside it is held, and goes out once it has passed',
      MIN,
      [[0, 'raise'], [10, 'update'], [30, 'due'], [60, 'due'], [70, 'clear']],
      ['0 a#1 raised', '60 a#2 updated', '70 a#3 cleared'],
    ],
    ['minInterval: only the newest held update goes out', MIN, [[0, 'raise'], [10, 'update'], [20, 'update'], [60, 'due']], ['0 a#1 raised', '60 a#3 updated']],
    ['minInterval: a clear always goes out, and takes the place of a held update', MIN, [[0, 'raise'], [10, 'update'], [20, 'clear'], [60, 'due']], ['0 a#1 raised', '20 a#3 cleared']],
    ['minInterval: an acknowledgement always goes out', MIN, [[0, 'raise'], [5, 'ack']], ['0 a#1 raised', '5 a#2 acknowledged']],
    [
      'minInterval damps a flapping rule: a raise soon after the last notification is held; raised and cleared inside it, never told',
      MIN,
      [[0, 'raise'], [5, 'clear'], [10, 'raise'], [15, 'clear'], [30, 'raise'], [64, 'due'], [65, 'due'], [70, 'clear']],
      ['0 a#1 raised', '5 a#2 cleared', '65 c#1 raised', '70 c#2 cleared'],
    ],
    [
      'repeatEvery: an open alert is told again, counting from the last notification',
      REPEAT,
      [[0, 'raise'], [899, 'due'], [900, 'due'], [1800, 'due'], [2000, 'update'], [2700, 'due'], [2900, 'due']],
      ['0 a#1 raised', '900 a#1 raised r1', '1800 a#1 raised r2', '2000 a#2 updated', '2900 a#2 updated r3'],
    ],
    ['repeatEvery: an acknowledged alert is not repeated, nor after a later update', REPEAT, [[0, 'raise'], [900, 'due'], [1000, 'ack'], [1100, 'update'], [9000, 'due']], ['0 a#1 raised', '900 a#1 raised r1', '1000 a#2 acknowledged', '1100 a#3 updated']],
    ['repeatEvery: a cleared alert is not repeated', REPEAT, [[0, 'raise'], [10, 'clear'], [9000, 'due']], ['0 a#1 raised', '10 a#2 cleared']],
    ['repeatEvery shorter than minInterval repeats at minInterval', { repeatEvery: 10_000, minInterval: 60_000 }, [[0, 'raise'], [10, 'due'], [59, 'due'], [60, 'due']], ['0 a#1 raised', '60 a#1 raised r1']],
  ])('%s', (_name, policy, script, expected) => {
    expect(play(policy, script).sent).toEqual(expected);
  });

  it('sends nothing for a transition it has seen (a replay)', () => {
    const raised = next(undefined, 'raise', 0, () => 'a');
    const first = onTransition(initialThrottleState(), raised, {}, s(0));
    const again = onTransition(first.state, raised, {}, s(1));
    expect([first.decision, again.decision, again.send]).toEqual(['sent', 'duplicate', []]);
  });

  it('sends the clear of an alert it never saw (its state lost in a restart)', () => {
    const raised = next(undefined, 'raise', 0, () => 'a');
    const cleared = next(next(raised, 'update', 1, () => 'a'), 'clear', 2, () => 'a');
    expect(onTransition(initialThrottleState(), cleared, MIN, s(2)).decision).toBe('sent');
  });

  it('forgets a cleared alert once its minInterval is over, so the state holds open alerts and recent clears only', () => {
    expect(entryCount(play(MIN, [[0, 'raise'], [10, 'clear'], [69, 'due']]).state)).toBe(1);
    expect(entryCount(play(MIN, [[0, 'raise'], [10, 'clear'], [70, 'due']]).state)).toBe(0);
    expect(entryCount(play({}, [[0, 'raise'], [10, 'clear'], [10, 'due']]).state)).toBe(0);
  });

  it('keeps plain JSON: a state written and read back carries on the same', () => {
    const policy = { ...MIN, ...REPEAT };
    const script: Array<[number, Action]> = [[0, 'raise'], [10, 'update'], [900, 'due'], [1800, 'due'], [1900, 'clear']];
    expect(play(policy, script).sent).toEqual(['0 a#1 raised', '900 a#2 updated', '1800 a#2 updated r1', '1900 a#3 cleared']);
    const firstHalf = play(policy, script.slice(0, 2));
    const throttle = createNotifyThrottle(() => policy, JSON.parse(JSON.stringify(firstHalf.state)) as ThrottleState);
    const shown = (sent: Notification[]): string[] => sent.map((notification) => `${notification.alert.alertId}#${notification.alert.seq} r${notification.repeat}`);
    expect(shown(throttle.due(s(900)))).toEqual(['a#2 r0']);
    expect(shown(throttle.due(s(1800)))).toEqual(['a#2 r1']);
  });

  it('says when it next has something to do, for one timer instead of polling', () => {
    const throttle = createNotifyThrottle(() => ({ ...MIN, ...REPEAT }));
    expect(throttle.nextDueAt()).toBeNull();
    const raised = next(undefined, 'raise', 0, () => 'a');
    throttle.decide(raised, s(0));
    expect(throttle.nextDueAt()).toBe(s(900));
    throttle.decide(next(raised, 'update', 10, () => 'a'), s(10));
    expect(throttle.nextDueAt()).toBe(s(60));
  });

  it('reads its policy from a rule', () => {
    expect(policyOf(rule({ type: 'silence', after: '30s' }, { notify: { repeatEvery: '15m', minInterval: '1m' } }))).toEqual({ repeatEvery: 900_000, minInterval: 60_000 });
    expect(policyOf(rule({ type: 'silence', after: '30s' }))).toEqual({ repeatEvery: undefined, minInterval: undefined });
  });
});
