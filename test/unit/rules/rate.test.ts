import { describe, expect, it } from 'vitest';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { briefs, reading, rule, run } from './support.js';

const l = (value: number | boolean | string, seconds: number): RuleInput => reading('level', value, seconds);
const rateRule = (fields: Record<string, unknown>) => rule({ type: 'rate', metric: 'level', ...fields });

describe('rate condition', () => {
  it.each([
    ['rise between consecutive readings', { perMinute: 10 }, [l(20, 0), l(22, 30), l(30, 60), l(31, 90)], ['raised@60=16', 'cleared@90=2']],
    ['fall: a negative bound raises on a drop faster than it', { perMinute: -10 }, [l(50, 0), l(40, 30), l(39, 60)], ['raised@30=-20', 'cleared@60=-2']],
    ['over: against the newest reading at least that old', { perMinute: 10, over: '1m' }, [l(20, 0), l(30, 30), l(31, 60)], ['raised@60=11']],
    ['hysteresis: stays open until the rate is below clearAt', { perMinute: 10, clearAt: 4 }, [l(0, 0), l(6, 30), l(9, 60), l(10, 90)], ['raised@30=12', 'cleared@90=2']],
    ['booleans, strings and NaN are ignored', { perMinute: 10 }, [l(0, 0), l(true, 10), l('x', 20), l(Number.NaN, 25), l(10, 30)], ['raised@30=20']],
    ['an out-of-order reading is placed by ts', { perMinute: 10 }, [l(0, 0), l(20, 60), l(19, 30)], ['raised@60=20', 'cleared@60=2']],
  ])('%s', (_name, fields, inputs, expected) => {
    expect(briefs(rateRule(fields), inputs)).toEqual(expected);
  });

  it('reports the two readings compared as the window', () => {
    const { transitions } = run(rateRule({ perMinute: 10 }), [l(0, 0), l(20, 60)]);
    expect(transitions[0]?.window).toEqual({ from: transitions[0]!.ts - 60_000, to: transitions[0]!.ts });
  });

  it('says nothing until a reading old enough to compare with exists', () => {
    expect(briefs(rateRule({ perMinute: 1, over: '5m' }), [l(0, 0), l(100, 60), l(200, 120)])).toEqual([]);
  });
});
