/**
 * The conditions a rule can watch, as a rules file spells them (validated once, by rules/schema.ts). Durations
 * are milliseconds after parsing. How each type treats a value that is not a plain number is part of its
 * contract, written on its schema below and implemented in rules/conditions/.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** Samples a rate keeps, or records a count keeps, per device: memory stays bounded whatever a device sends. */
export const MAX_WINDOW_SAMPLES = 10_000;

const duration = z.union([z.number(), z.string()]).transform((input, context) => {
  const ms = parseDuration(input);
  if (ms === undefined) {
    context.addIssue({ code: 'custom', message: 'not a duration: milliseconds, or a string such as "500ms", "30s", "5m", "1h"' });
    return z.NEVER;
  }
  return ms;
});
const positiveDuration = duration.refine((ms) => ms > 0, 'must be longer than 0');
const metric = z.string().min(1, 'names a metric');
const count = z.number().int().min(1).max(MAX_WINDOW_SAMPLES);

/** A bound on one side: exactly one of `above`/`below`, and a `clearAt` on the safe side of it (hysteresis). */
const bounds = { above: z.number().optional(), below: z.number().optional(), clearAt: z.number().optional() };
type Bounds = { above?: number | undefined; below?: number | undefined; clearAt?: number | undefined };
function checkBounds(value: Bounds, context: z.RefinementCtx): void {
  if ((value.above === undefined) === (value.below === undefined)) {
    context.addIssue({ code: 'custom', path: ['above'], message: 'give exactly one of "above" or "below"' });
  } else if (value.clearAt !== undefined && value.above !== undefined && value.clearAt > value.above) {
    context.addIssue({ code: 'custom', path: ['clearAt'], message: `must be below raiseAt for "above" (clearAt ${value.clearAt} > above ${value.above})` });
  } else if (value.clearAt !== undefined && value.below !== undefined && value.clearAt < value.below) {
    context.addIssue({ code: 'custom', path: ['clearAt'], message: `must be above raiseAt for "below" (clearAt ${value.clearAt} < below ${value.below})` });
  }
}

/**
 * Any of `metrics` past the bound raises (OR); the alert clears once none is. With `for`, a metric must stay past
 * the bound that long in event time (from its first reading past it to the current one) before it counts.
 * Values: numbers as they are, booleans as 1 (true) and 0 (false); strings and NaN are ignored (no state change).
 * An older reading of a metric arriving after a newer one is stale and ignored: the newest value is the truth.
 */
export const thresholdCondition = z
  .strictObject({ type: z.literal('threshold'), metrics: z.array(metric).min(1), ...bounds, for: duration.optional() })
  .superRefine(checkBounds);

export const AGGREGATES = ['avg', 'min', 'max', 'count', 'countAbove', 'countBelow'] as const;

/**
 * An aggregate of one metric over a window of event time, compared with the bound. `sliding`: over the readings
 * with ts in (newest − window, newest], evaluated on every reading. It keeps running totals (count, sum, min,
 * max, hits past `bound`) in buckets of window/60, at least 1 s (rules/conditions/window.ts), never the readings:
 * its state is a few KB whatever the rate. The price: the window slides in bucket steps, so it may also take in
 * readings up to one bucket older than newest − window (the oldest bucket it overlaps counts whole), and a
 * reading leaves the window when its whole bucket has. A reading out of order within the allowed lateness goes
 * to its bucket; one whose bucket has slid out is ignored. `tumbling`: epoch-aligned windows [start, start +
 * window), evaluated once when the window closes — a reading past its end arrives, or a tick finds its end +
 * allowed lateness passed; a straggler for a window already closed is late. Windows without readings are not
 * evaluated (a silence rule covers that).
 * Values: booleans as 1/0; strings and NaN count for `count` (a reading arrived) and are skipped by the others.
 */
export const windowCondition = z
  .strictObject({
    type: z.literal('window'),
    metric,
    aggregate: z.enum(AGGREGATES),
    /** The value countAbove/countBelow compare each reading with. */
    bound: z.number().optional(),
    window: positiveDuration,
    kind: z.enum(['sliding', 'tumbling']).default('sliding'),
    ...bounds,
  })
  .superRefine((value, context) => {
    checkBounds(value, context);
    const needsBound = value.aggregate === 'countAbove' || value.aggregate === 'countBelow';
    if (needsBound !== (value.bound !== undefined)) {
      context.addIssue({ code: 'custom', path: ['bound'], message: needsBound ? `"${value.aggregate}" needs a "bound"` : 'only "countAbove" and "countBelow" take a "bound"' });
    }
  });

/**
 * The change of one metric per minute: rising faster than `perMinute` (positive) or falling faster than it
 * (negative). Compares the newest reading with the newest one at least `over` older (default: the previous
 * reading). Values: numbers only; booleans, strings and NaN are ignored (a rate of a flag means nothing).
 */
export const rateCondition = z
  .strictObject({ type: z.literal('rate'), metric, perMinute: z.number().refine((n) => n !== 0, 'must not be 0'), over: duration.optional(), clearAt: z.number().optional() })
  .superRefine((value, context) => {
    const rising = value.perMinute > 0;
    if (value.clearAt !== undefined && (rising ? value.clearAt > value.perMinute : value.clearAt < value.perMinute)) {
      context.addIssue({ code: 'custom', path: ['clearAt'], message: `must be ${rising ? 'below' : 'above'} perMinute (${value.perMinute})` });
    }
  });

/**
 * No reading (of `metric`, or of any metric) for `after`, on the gateway's clock: the last reading's receivedAt
 * against `tick(now)`. Clears on the next reading. Any value counts as a sign of life, strings and NaN included.
 * A device (or metric) never seen raises nothing.
 */
export const silenceCondition = z.strictObject({ type: z.literal('silence'), metric: metric.optional(), after: positiveDuration });

/**
 * The device's status is `offline` and has been for `after` (the ts of the `offline` that began it against
 * `tick(now)`); clears on `online`. Status as every consumer orders it (core/device-status.ts): by connection.
 */
export const offlineCondition = z.strictObject({ type: z.literal('offline'), after: positiveDuration });

/** At least `count` dead letters of the device within a sliding `window` (their receivedAt); ticks clear it. */
export const deadLettersCondition = z.strictObject({ type: z.literal('deadletters'), count, window: positiveDuration });

/**
 * At least `count` refused logins for the device within a sliding `window` (event ts): each `auth-failed` event
 * counts one, and so does each `auth-failures` event (a burst that spent the login budget). Ticks clear it.
 */
export const authFailuresCondition = z.strictObject({ type: z.literal('auth-failures'), count, window: positiveDuration });

export const conditionSchema = z.discriminatedUnion('type', [
  thresholdCondition,
  windowCondition,
  rateCondition,
  silenceCondition,
  offlineCondition,
  deadLettersCondition,
  authFailuresCondition,
]);

export { duration as durationSchema };

export type Condition = z.output<typeof conditionSchema>;
export type ThresholdCondition = z.output<typeof thresholdCondition>;
export type WindowCondition = z.output<typeof windowCondition>;
export type RateCondition = z.output<typeof rateCondition>;
export type SilenceCondition = z.output<typeof silenceCondition>;
export type OfflineCondition = z.output<typeof offlineCondition>;
export type CountCondition = z.output<typeof deadLettersCondition> | z.output<typeof authFailuresCondition>;
