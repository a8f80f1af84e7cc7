/**
 * A bound with hysteresis, shared by threshold, window and rate: a value raises once past `raiseAt`, and the
 * alert stays open until the value is back on the safe side of `clearAt`. With clearAt = raiseAt (the default) a
 * value sitting exactly on the bound changes nothing, which already damps the flapping of a noisy sensor.
 */

export interface Band {
  /** 1: raise above `raiseAt`; -1: raise below it. */
  direction: 1 | -1;
  raiseAt: number;
  clearAt: number;
}

export function bandOf(condition: { above?: number | undefined; below?: number | undefined; clearAt?: number | undefined }): Band {
  // The schema guarantees exactly one of above/below.
  if (condition.above !== undefined) return { direction: 1, raiseAt: condition.above, clearAt: condition.clearAt ?? condition.above };
  const below = condition.below ?? 0;
  return { direction: -1, raiseAt: below, clearAt: condition.clearAt ?? below };
}

/** Strictly past the raise bound. */
export function breaches(band: Band, value: number): boolean {
  return band.direction * (value - band.raiseAt) > 0;
}

/** Strictly back on the safe side of the clear bound. */
export function recovered(band: Band, value: number): boolean {
  return band.direction * (value - band.clearAt) < 0;
}

/** Whether the condition holds after `value`, given whether it held before. */
export function holds(band: Band, wasOpen: boolean, value: number): boolean {
  return wasOpen ? !recovered(band, value) : breaches(band, value);
}

/**
 * Whether an open alert's value moved far enough past the last one reported to say so (`updated`): a new peak by
 * at least the hysteresis gap, or a tenth of the bound when there is no gap. Kept coarse on purpose: an update
 * is a notification, and a sensor creeping up by 0.01 must not send one per reading.
 */
export function isNotable(band: Band, lastReported: number, value: number): boolean {
  const step = Math.max(Math.abs(band.raiseAt - band.clearAt), Math.abs(band.raiseAt) * 0.1) || 1;
  return band.direction * (value - lastReported) >= step;
}

export interface Judgement {
  open: boolean;
  /** The value last sent out with `raised` or `updated`, while open. */
  reported: number | null;
  transition?: 'raised' | 'updated' | 'cleared';
}

/** One value judged against the band: the next open flag, and the transition it makes, if any. */
export function judge(band: Band, open: boolean, reported: number | null, value: number): Judgement {
  const next = holds(band, open, value);
  if (!open && next) return { open: true, reported: value, transition: 'raised' };
  if (open && !next) return { open: false, reported: null, transition: 'cleared' };
  if (open && isNotable(band, reported ?? value, value)) return { open, reported: value, transition: 'updated' };
  return { open, reported };
}
