import { describe, expect, it } from 'vitest';
import type { RuleInput } from '../../../rules/conditions/index.js';
import { bucketWidthOf, stepWindow, type WindowState } from '../../../rules/conditions/window.js';
import type { WindowCondition } from '../../../rules/condition-schema.js';
import { at, briefs, DEVICE, reading, rule, run, tick } from './support.js';

const h = (value: number | boolean | string, seconds: number): RuleInput => reading('humidity', value, seconds);
const windowRule = (fields: Record<string, unknown>) => rule({ type: 'window', metric: 'humidity', window: '10s', ...fields });
const windowState = (engine: ReturnType<typeof run>['engine']): WindowState => {
  const state = engine.snapshot(DEVICE)[0]?.state.condition;
  if (state?.type !== 'window') throw new Error(`expected a window state, got ${JSON.stringify(state)}`);
  return state;
};

describe('window condition, sliding', () => {
  it.each([
    ['avg over (newest − window, newest]', { aggregate: 'avg', above: 50 }, [h(40, 0), h(60, 5), h(70, 8), h(40, 16), h(20, 19)], ['raised@8=56.667', 'cleared@19=30']],
    ['max', { aggregate: 'max', above: 80 }, [h(81, 0), h(10, 5), h(10, 11)], ['raised@0=81', 'cleared@11=10']],
    ['min', { aggregate: 'min', below: 5 }, [h(4, 0), h(10, 5), h(10, 10.5)], ['raised@0=4', 'cleared@10.5=10']],
    ['count, strings and NaN included', { aggregate: 'count', above: 2 }, [h(1, 0), h('x', 1), h(Number.NaN, 2)], ['raised@2=3']],
    ['countAbove a bound', { aggregate: 'countAbove', bound: 30, above: 1 }, [h(31, 0), h(29, 1), h(35, 2), h(29, 11), h(29, 13)], ['raised@2=2', 'cleared@13=0']],
    ['countBelow a bound, booleans as 1/0', { aggregate: 'countBelow', bound: 0.5, above: 1 }, [h(false, 0), h(true, 1), h(false, 2)], ['raised@2=2']],
    ['avg skips strings and NaN', { aggregate: 'avg', above: 50 }, [h(60, 0), h('x', 1), h(Number.NaN, 2)], ['raised@0=60']],
    ['several readings in one bucket add up', { aggregate: 'count', above: 3 }, [h(1, 0.1), h(1, 0.2), h(1, 0.3), h(1, 0.4), h(1, 11)], ['raised@0.4=4', 'cleared@11=1']],
    ['hysteresis: stays open until back past clearAt', { aggregate: 'avg', above: 50, clearAt: 40 }, [h(60, 0), h(45, 1), h(30, 2), h(10, 3)], ['raised@0=60', 'cleared@3=36.25']],
    ['hysteresis: an update only for a move of the gap', { aggregate: 'max', above: 50, clearAt: 45 }, [h(51, 0), h(54, 1), h(56, 2), h(61, 3)], ['raised@0=51', 'updated@2=56', 'updated@3=61']],
  ])('%s', (_name, fields, inputs, expected) => {
    expect(briefs(windowRule({ kind: 'sliding', ...fields }), inputs)).toEqual(expected);
  });

  it.each([
    ['10s: one-second buckets', 10_000, 1000],
    ['1m: one-second buckets, 60 of them', 60_000, 1000],
    ['1h: a minute each', 3_600_000, 60_000],
    ['90s: window/60', 90_000, 1500],
    ['under a second: the window itself', 500, 500],
  ])('bucket width of a %s window', (_name, windowMs, width) => {
    expect(bucketWidthOf(windowMs)).toBe(width);
  });

  it('slides in bucket steps: a reading stays until its whole bucket has left the window', () => {
    // 81 at 0.1 s is in bucket (0 s, 1 s]. At 10.5 s that bucket still overlaps (0.5 s, 10.5 s], so it counts whole;
    // at 11 s the window is (1 s, 11 s] and it is gone. Exact per-reading windows would have cleared at 10.5 s.
    expect(briefs(windowRule({ aggregate: 'max', above: 80 }), [h(81, 0.1), h(10, 10.5), h(10, 11)])).toEqual(['raised@0.1=81', 'cleared@11=10']);
  });

  it('reports the window the aggregate covers: whole buckets up to the newest reading', () => {
    const onBoundary = run(windowRule({ aggregate: 'max', above: 80 }), [h(81, 3)]).transitions[0];
    expect(onBoundary?.window).toEqual({ from: at(3) - 10_000, to: at(3) });
    const midBucket = run(windowRule({ aggregate: 'max', above: 80 }), [h(81, 3.5)]).transitions[0];
    expect(midBucket?.window).toEqual({ from: at(-7), to: at(3.5) });
  });

  it('places an out-of-order reading within lateness into its bucket', () => {
    const avgAbove = windowRule({ aggregate: 'avg', above: 60 });
    expect(briefs(avgAbove, [h(10, 0), h(90, 8), h(90, 4)])).toEqual(['raised@8=63.333']);
    // The same readings in order give the same result: placement does not depend on arrival order.
    expect(briefs(avgAbove, [h(10, 0), h(90, 4), h(90, 8)])).toEqual(['raised@8=63.333']);
  });

  it('ignores an out-of-order reading whose bucket has slid out, late or not', () => {
    const countAbove = windowRule({ aggregate: 'count', above: 2 });
    // 60 s of allowed lateness keeps the reading at 1 s, but the window at 20 s is (10 s, 20 s]: it adds nothing.
    const { transitions, engine } = run(countAbove, [h(1, 19), h(1, 20), h(1, 1)], 60_000);
    expect(transitions).toEqual([]);
    expect(engine.stats().lateReadings).toBe(0);
    expect(windowState(engine).buckets.map(([index]) => index)).toEqual([at(19) / 1000, at(20) / 1000]);
    // Beyond the allowed lateness the engine drops it first and counts it.
    expect(run(countAbove, [h(1, 19), h(1, 20), h(1, 1)], 5_000).engine.stats().lateReadings).toBe(1);
  });

  it('keeps only the buckets the window overlaps, oldest first', () => {
    const { engine } = run(windowRule({ aggregate: 'count', above: 1000 }), [h(1, 0), h(1, 5), h(1, 12), h(1, 7), h(1, 12.5)]);
    const state = windowState(engine);
    expect(state.latest).toBe(at(12.5));
    expect(state.buckets.map(([index, count]) => [index - at(0) / 1000, count])).toEqual([
      [5, 1],
      [7, 1],
      [12, 1],
      [13, 1],
    ]);
  });

  it('stays small whatever the rate: 100,000 readings leave under 8 KB of state', { timeout: 30_000 }, () => {
    // 100 readings a second for 1,000 s, values that do not round to short numbers.
    const inputs = Array.from({ length: 100_000 }, (_, index) => h(50 + 40 * Math.sin(index / 7) + index / 1e5, index / 100));
    for (const window of ['1m', '1h']) {
      const { engine } = run(windowRule({ window, aggregate: 'avg', above: 1000 }), inputs);
      const [snapshot] = engine.snapshot(DEVICE);
      const state = windowState(engine);
      expect(state.buckets.length).toBeLessThanOrEqual(61);
      expect(JSON.stringify(snapshot?.state).length).toBeLessThan(8 * 1024);
      // The totals are still all there: a 1m window at 100 Hz holds 6,000 readings and a bucket more at most.
      const count = state.buckets.reduce((sum, [, bucketCount]) => sum + bucketCount, 0);
      if (window === '1m') expect(count).toBeGreaterThanOrEqual(6000);
      if (window === '1m') expect(count).toBeLessThanOrEqual(6100);
      else expect(count).toBe(100_000);
    }
  });

  it('starts its buckets afresh from a restored state without them, keeping the open alert open', () => {
    const condition = windowRule({ aggregate: 'max', above: 80 }).condition as WindowCondition;
    const restored = { type: 'window', open: true, reported: 90, samples: [[at(0), 90]], bucket: null, closedUntil: null } as unknown as WindowState;
    const step = stepWindow(condition, restored, h(10, 1), { allowedLatenessMs: 60_000 });
    expect(step.transition).toMatchObject({ type: 'cleared', value: 10 });
    expect(step.state).toMatchObject({ open: false, latest: at(1), buckets: [[at(1) / 1000, 1, 1, 10, 10, 10, 0]] });
  });

  it('refuses maxSamples, which sliding windows no longer take', () => {
    expect(() => windowRule({ aggregate: 'max', above: 1, maxSamples: 100 })).toThrow(/maxSamples/);
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

  it('applies hysteresis across windows', () => {
    const withGap = windowRule({ kind: 'tumbling', aggregate: 'avg', above: 50, clearAt: 40 });
    expect(briefs(withGap, [h(60, 0), h(45, 10), h(35, 20), h(0, 30)])).toEqual(['raised@10=60', 'cleared@30=35']);
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

  it('keeps one window of totals, whatever the rate', () => {
    const { engine } = run(avgAbove50, Array.from({ length: 10_000 }, (_, index) => h(index % 100, index / 1000)));
    expect(JSON.stringify(engine.snapshot(DEVICE)[0]?.state).length).toBeLessThan(1024);
  });
});
