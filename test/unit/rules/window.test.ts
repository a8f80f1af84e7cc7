import { describe, expect, it } from 'vitest';
import { MAX_WINDOW_SAMPLES } from '../../../rules/condition-schema.js';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { briefs, reading, rule, run, tick } from './support.js';

const h = (value: number | boolean | string, seconds: number): RuleInput => reading('humidity', value, seconds);
const windowRule = (fields: Record<string, unknown>) => rule({ type: 'window', metric: 'humidity', window: '10s', ...fields });

describe('window condition, sliding', () => {
  it.each([
    ['avg over (newest − window, newest]', { aggregate: 'avg', above: 50 }, [h(40, 0), h(60, 5), h(70, 8), h(40, 16), h(20, 19)], ['raised@8=56.667', 'cleared@19=30']],
    ['max', { aggregate: 'max', above: 80 }, [h(81, 0), h(10, 5), h(10, 11)], ['raised@0=81', 'cleared@11=10']],
    ['min', { aggregate: 'min', below: 5 }, [h(4, 0), h(10, 5), h(10, 10.5)], ['raised@0=4', 'cleared@10.5=10']],
    ['count, strings and NaN included', { aggregate: 'count', above: 2 }, [h(1, 0), h('x', 1), h(Number.NaN, 2)], ['raised@2=3']],
    ['countAbove a bound', { aggregate: 'countAbove', bound: 30, above: 1 }, [h(31, 0), h(29, 1), h(35, 2), h(29, 11), h(29, 13)], ['raised@2=2', 'cleared@13=0']],
    ['countBelow a bound, booleans as 1/0', { aggregate: 'countBelow', bound: 0.5, above: 1 }, [h(false, 0), h(true, 1), h(false, 2)], ['raised@2=2']],
    ['avg skips strings and NaN', { aggregate: 'avg', above: 50 }, [h(60, 0), h('x', 1), h(Number.NaN, 2)], ['raised@0=60']],
  ])('%s', (_name, fields, inputs, expected) => {
    expect(briefs(windowRule({ kind: 'sliding', ...fields }), inputs)).toEqual(expected);
  });

  it('places an out-of-order reading within lateness into its window', () => {
    const avgAbove = windowRule({ aggregate: 'avg', above: 60 });
    expect(briefs(avgAbove, [h(10, 0), h(90, 8), h(90, 4)])).toEqual(['raised@8=63.333']);
    // The same readings in order give the same result: placement does not depend on arrival order.
    expect(briefs(avgAbove, [h(10, 0), h(90, 4), h(90, 8)])).toEqual(['raised@8=63.333']);
  });

  it('reports the window the aggregate covers', () => {
    const { transitions } = run(windowRule({ aggregate: 'max', above: 80 }), [h(81, 3)]);
    expect(transitions[0]?.window).toEqual({ from: transitions[0]!.ts - 10_000, to: transitions[0]!.ts });
  });

  it('keeps at most maxSamples samples, the newest (10,000 unless set lower)', () => {
    const inputs = Array.from({ length: 150 }, (_, index) => h(index < 50 ? 100 : 1, index / 10));
    const { transitions, engine } = run(windowRule({ window: '1h', aggregate: 'max', above: 50, maxSamples: 100 }), inputs);
    const state = engine.snapshot('dev-1')[0]?.state.condition;
    expect(state?.type === 'window' && state.samples.length).toBe(100);
    expect(transitions.map((alert) => alert.transition)).toEqual(['raised', 'cleared']);
    expect(MAX_WINDOW_SAMPLES).toBe(10_000);
    expect(() => windowRule({ aggregate: 'max', above: 1, maxSamples: 10_001 })).toThrow(/maxSamples/);
  });
});

describe('window condition, tumbling', () => {
  const avgAbove50 = windowRule({ kind: 'tumbling', aggregate: 'avg', above: 50 });

  it('judges a window once, when a reading past its end arrives', () => {
    const { transitions } = run(avgAbove50, [h(60, 0), h(70, 5), h(10, 12)]);
    expect(transitions.map((alert) => [alert.transition, alert.value, alert.window])).toEqual([['raised', 65, { from: transitions[0]!.ts - 10_000, to: transitions[0]!.ts }]]);
  });

  it('closes a window on tick once its end plus the allowed lateness has passed', () => {
    const inputs = [h(60, 0), h(70, 5), h(10, 12), tick(75), tick(80)];
    expect(briefs(avgAbove50, inputs, 60_000)).toEqual(['raised@10=65', 'cleared@20=10']);
  });

  it('differs from sliding on the same readings: one verdict per window, not per reading', () => {
    const inputs = [h(60, 0), h(70, 5), h(10, 12), h(10, 14)];
    expect(briefs(avgAbove50, inputs)).toEqual(['raised@10=65']);
    expect(briefs(windowRule({ kind: 'sliding', aggregate: 'avg', above: 50 }), inputs)).toEqual(['raised@0=60', 'updated@5=65', 'cleared@12=40']);
  });

  it('places out-of-order readings within the open window, and counts a straggler for a closed window as late', () => {
    const { transitions, engine } = run(avgAbove50, [h(60, 5), h(80, 1), h(10, 12), h(90, 8), tick(200)]);
    expect(transitions.map((alert) => [alert.transition, alert.value])).toEqual([
      ['raised', 70],
      ['cleared', 10],
    ]);
    expect(engine.stats().lateReadings).toBe(1);
  });

  it('does not judge a window without readings', () => {
    expect(briefs(windowRule({ kind: 'tumbling', aggregate: 'count', below: 1 }), [h(1, 0), tick(500)])).toEqual([]);
  });
});
