/**
 * How ingest went through a fault, from the acknowledgements the devices saw per time bucket. Pure, so the
 * definitions are tested on made-up series:
 * - the ingest rate at time t is what was acknowledged in the second before t (a 1 s sliding window);
 * - it is "at rate" when that is ≥ 95 % of what the devices offered in the same second (every message that fell
 *   due, sent, queued or skipped; the nominal rate when no such series is given), and "back" at the first t at
 *   rate from which the next 3 s keep that rate on average (so one lucky second after an outage does not count,
 *   and one noisy second in a steady stream does not postpone it). Measuring against what was offered, not the
 *   nominal rate, keeps a load generator starved of CPU on a busy machine from showing up as a dip of the
 *   pipeline;
 * - recovery is from the end of the fault (restart done) until back; 0 when ingest was at rate all along;
 * - the dip is what a fault that should not stop ingest at all (one broker of three) did to it: when the rate
 *   first fell below 95 % after the fault, how low it went, and how long until it was back.
 * Only the load's own seconds count: after the load the offered rate is 0 and says nothing.
 */

/** Width of the per-bucket series (acknowledgements, disconnects) the load workers report. */
export const SERIES_BUCKET_MS = 100;

export interface RecoveryInput {
  /** Acknowledgements per bucket, bucket i = [i × bucketMs, (i + 1) × bucketMs) from the start of the load. */
  acked: readonly number[];
  /** Messages that fell due per bucket (the offered load as it ran); without it, `offeredPerSec` throughout. */
  offered?: readonly number[];
  bucketMs: number;
  /** The nominal offered rate (devices × rate), for `minPct`. */
  offeredPerSec: number;
  /** End of the load (ms from its start); windows ending later are not looked at. */
  loadEndMs: number;
  appliedAtMs: number;
  /** When the fault ended (restart done); null when it never did. */
  liftedAtMs: number | null;
  windowMs?: number;
  sustainMs?: number;
  /** Share of the offered rate that counts as "at rate". */
  threshold?: number;
}

export interface Recovery {
  /** When the 1 s rate first fell below the threshold at or after the fault (s from the load start); null: never. */
  dipStartS: number | null;
  /** When it was back at rate after that dip, sustained; null: no dip, or not back before the load ended. */
  backAtS: number | null;
  /** backAt − dipStart: how long ingest stayed below the offered rate. */
  dipS: number | null;
  /** Lowest 1 s rate from the fault until back (or the end of the load), acknowledged messages per second. */
  minPerSec: number;
  /** minPerSec as a share of the offered rate, in %. */
  minPct: number;
  /** From the end of the fault until ingest was back at rate, sustained; 0 when it already was; null: not within the load. */
  recoveryS: number | null;
}

const s1 = (ms: number): number => Math.round(ms / 100) / 10;

export function computeRecovery(input: RecoveryInput): Recovery {
  const { acked, bucketMs, offeredPerSec } = input;
  const windowBuckets = Math.max(1, Math.round((input.windowMs ?? 1000) / bucketMs));
  const sustainBuckets = Math.max(1, Math.round((input.sustainMs ?? 3000) / bucketMs));
  const threshold = input.threshold ?? 0.95;
  // Window i ends at (i + 1) × bucketMs; the last one that ends inside the load:
  const last = Math.floor(input.loadEndMs / bucketMs) - 1;
  const sums = (series: readonly number[]): number[] => {
    const prefix = [0];
    for (let i = 0; i <= last; i++) prefix.push(prefix[i]! + (series[i] ?? 0));
    return prefix;
  };
  const ackedSums = sums(acked);
  const offeredSums = input.offered ? sums(input.offered) : undefined;
  const inWindow = (prefix: number[], i: number): number => prefix[i + 1]! - prefix[Math.max(0, i + 1 - windowBuckets)]!;
  const windowSpanMs = (i: number): number => Math.min(windowBuckets, i + 1) * bucketMs;
  const ratePerSec = (i: number): number => (inWindow(ackedSums, i) * 1000) / windowSpanMs(i);
  const offeredInWindow = (i: number): number => (offeredSums ? inWindow(offeredSums, i) : (offeredPerSec * windowSpanMs(i)) / 1000);
  const atRate = (i: number): boolean => inWindow(ackedSums, i) >= threshold * offeredInWindow(i);
  const firstWindowAtOrAfter = (ms: number): number => Math.max(0, Math.ceil(ms / bucketMs) - 1);
  /**
   * First window from `from` on that is at rate and after which the next `sustainBuckets` keep the rate on
   * average (all inside the load): one good second followed by another stall is not back, one noisy 1 s window
   * in a steady stream does not postpone it.
   */
  const backFrom = (from: number): number | undefined => {
    for (let i = from; i + sustainBuckets <= last; i++) {
      if (!atRate(i)) continue;
      const ackedNext = ackedSums[i + sustainBuckets + 1]! - ackedSums[i + 1]!;
      const offeredNext = offeredSums ? offeredSums[i + sustainBuckets + 1]! - offeredSums[i + 1]! : (offeredPerSec * sustainBuckets * bucketMs) / 1000;
      if (ackedNext >= threshold * offeredNext) return i;
    }
    return undefined;
  };

  const applied = firstWindowAtOrAfter(input.appliedAtMs);
  let dip: number | undefined;
  for (let i = applied; i <= last && dip === undefined; i++) if (!atRate(i)) dip = i;
  const back = dip === undefined ? undefined : backFrom(dip);
  let minPerSec = Number.POSITIVE_INFINITY;
  for (let i = applied; i <= (back ?? last); i++) minPerSec = Math.min(minPerSec, ratePerSec(i));
  if (!Number.isFinite(minPerSec)) minPerSec = 0;

  let recoveryS: number | null = null;
  if (input.liftedAtMs !== null) {
    const lifted = firstWindowAtOrAfter(input.liftedAtMs);
    const recovered = backFrom(lifted);
    if (recovered !== undefined) recoveryS = recovered === lifted ? 0 : s1(Math.max(0, (recovered + 1) * bucketMs - input.liftedAtMs));
  }
  const endOf = (i: number): number => (i + 1) * bucketMs;
  return {
    dipStartS: dip === undefined ? null : s1(endOf(dip)),
    backAtS: back === undefined ? null : s1(endOf(back)),
    dipS: dip === undefined || back === undefined ? null : s1(endOf(back) - endOf(dip)),
    minPerSec: Math.round(minPerSec),
    minPct: offeredPerSec > 0 ? Math.round((1000 * minPerSec) / offeredPerSec) / 10 : 0,
    recoveryS,
  };
}

/** One poll of the stored-latency sampler: how far behind real time the sampled devices' newest points were. */
export interface StorePoll {
  /** ms from the start of the load. */
  atMs: number;
  /** Poll time − the oldest of the sampled devices' newest stored point times; null before every device has one. */
  stalenessMs: number | null;
}

/**
 * When the store had caught up after a fault: the first poll after it ended at which the sampled devices'
 * newest points were no more than `thresholdMs` old. Seconds after the fault ended; null: not within the polls.
 */
export function storeCaughtUpS(polls: readonly StorePoll[], liftedAtMs: number | null, thresholdMs: number): number | null {
  if (liftedAtMs === null) return null;
  const poll = polls.find((p) => p.atMs >= liftedAtMs && p.stalenessMs !== null && p.stalenessMs <= thresholdMs);
  return poll ? s1(poll.atMs - liftedAtMs) : null;
}

/** The median staleness before `beforeMs` (the steady state a catch-up is measured against); null without polls. */
export function medianStaleness(polls: readonly StorePoll[], fromMs: number, beforeMs: number): number | null {
  const values = polls.filter((p) => p.atMs >= fromMs && p.atMs < beforeMs && p.stalenessMs !== null).map((p) => p.stalenessMs!);
  if (values.length === 0) return null;
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

/** Sums per-bucket series of several workers (different lengths) into one. */
export function addSeries(parts: readonly (readonly number[])[]): number[] {
  const out = new Array<number>(Math.max(0, ...parts.map((p) => p.length))).fill(0);
  for (const part of parts) part.forEach((value, i) => (out[i]! += value));
  return out;
}

/** Re-buckets a series (e.g. 100 ms buckets into seconds). */
export function rebucket(series: readonly number[], factor: number): number[] {
  const out = new Array<number>(Math.ceil(series.length / factor)).fill(0);
  series.forEach((value, i) => (out[Math.floor(i / factor)]! += value));
  return out;
}
