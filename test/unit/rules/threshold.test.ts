import { describe, expect, it } from 'vitest';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { briefs, reading, rule, run } from './support.js';

const t = (value: number | boolean | string, seconds: number): RuleInput => reading('temperature', value, seconds);

describe('threshold condition', () => {
  it.each([
    ['raises past the bound, stays open between clearAt and the bound, clears below clearAt', { above: 80, clearAt: 75 }, [t(70, 0), t(81, 1), t(77, 2), t(79, 3), t(74, 4)], ['raised@1=81', 'cleared@4=74']],
    ['a value exactly on the bound neither raises nor clears', { above: 80 }, [t(80, 0), t(81, 1), t(80, 2), t(79.9, 3)], ['raised@1=81', 'cleared@3=79.9']],
    ['below: raises under the bound and clears above clearAt', { below: 10, clearAt: 12 }, [t(11, 0), t(9, 1), t(11, 2), t(13, 3)], ['raised@1=9', 'cleared@3=13']],
    ['raises again after a clear, as a new alert', { above: 80 }, [t(81, 0), t(70, 1), t(85, 2)], ['raised@0=81', 'cleared@1=70', 'raised@2=85']],
    ['updates on a new peak at least the hysteresis gap (or a tenth of the bound) past the last one sent', { above: 80, clearAt: 75 }, [t(81, 0), t(88, 1), t(89, 2), t(95, 3), t(97, 4)], ['raised@0=81', 'updated@2=89', 'updated@4=97']],
  ])('%s', (_name, bounds, inputs, expected) => {
    expect(briefs(rule({ type: 'threshold', metrics: ['temperature'], ...bounds }), inputs)).toEqual(expected);
  });

  it.each([
    ['raises once the value has been past the bound for `for`, in event time', [t(81, 0), t(82, 5), t(83, 10)], ['raised@10=83']],
    ['a value back under the bound restarts the run', [t(81, 0), t(79, 5), t(81, 8), t(81, 17), t(81, 18)], ['raised@18=81']],
    ['clears at once, without waiting `for`', [t(81, 0), t(81, 10), t(70, 11)], ['raised@10=81', 'cleared@11=70']],
  ])('for 10s: %s', (_name, inputs, expected) => {
    expect(briefs(rule({ type: 'threshold', metrics: ['temperature'], above: 80, for: '10s' }), inputs)).toEqual(expected);
  });

  it('reports the run that held as the window of a `for` raise', () => {
    const { transitions } = run(rule({ type: 'threshold', metrics: ['temperature'], above: 80, for: 10_000 }), [t(81, 0), t(82, 12)]);
    expect(transitions[0]?.window).toEqual({ from: transitions[0]!.ts - 12_000, to: transitions[0]!.ts });
  });

  it('ORs across metrics: any one past the bound raises, the alert clears when none is', () => {
    const condition = { type: 'threshold', metrics: ['inlet', 'outlet'], above: 10 };
    const inputs = [reading('inlet', 11, 0), reading('outlet', 11.5, 1), reading('inlet', 5, 2), reading('outlet', 5, 3)];
    const { transitions } = run(rule(condition), inputs);
    expect(transitions.map((alert) => [alert.transition, alert.metric, alert.value])).toEqual([
      ['raised', 'inlet', 11],
      ['cleared', 'outlet', 5],
    ]);
  });

  it.each([
    ['booleans count as 1 and 0', { above: 0.5 }, [t(true, 0), t(false, 1)], ['raised@0=1', 'cleared@1=0']],
    ['strings change nothing', { above: 80 }, [t(81, 0), t('overheat', 1), t(70, 2)], ['raised@0=81', 'cleared@2=70']],
    ['NaN changes nothing', { above: 80 }, [t(81, 0), t(Number.NaN, 1), t(70, 2)], ['raised@0=81', 'cleared@2=70']],
    ['strings and NaN do not break a `for` run', { above: 80, for: '10s' }, [t(81, 0), t('x', 5), t(Number.NaN, 6), t(81, 10)], ['raised@10=81']],
    ['an older reading arriving after a newer one is stale', { above: 80 }, [t(81, 10), t(70, 5), t(82, 11)], ['raised@10=81']],
  ])('values: %s', (_name, bounds, inputs, expected) => {
    expect(briefs(rule({ type: 'threshold', metrics: ['temperature'], ...bounds }), inputs)).toEqual(expected);
  });

  it('orders two readings of one millisecond by their precise time: both applied in order, an older one arriving later is stale', () => {
    // Within one ms: 81 raises, 70 (1 ns later) clears; 90 at an earlier ns of the same ms arrives last and is stale.
    const sub = (value: number, ns: number): RuleInput => {
      const input = t(value, 1);
      if (input.kind !== 'reading') throw new Error('a reading');
      return { kind: 'reading', reading: { ...input.reading, timeNs: (BigInt(input.reading.timeNs) + BigInt(ns)).toString() } };
    };
    const condition = { type: 'threshold', metrics: ['temperature'], above: 80 };
    expect(briefs(rule(condition), [sub(81, 10), sub(70, 11)])).toEqual(['raised@1=81', 'cleared@1=70']);
    expect(briefs(rule(condition), [sub(70, 11), sub(90, 10)])).toEqual([]);
  });

  it('ignores metrics it does not name, so a metric that never arrives raises nothing', () => {
    expect(briefs(rule({ type: 'threshold', metrics: ['pressure'], above: 0 }), [t(81, 0), t(99, 1)])).toEqual([]);
  });
});
