/**
 * The receive stamp of readings without a device time (docs/contracts.md §5 `timeNs`): epoch nanoseconds, strictly
 * increasing across every publish this process stamps.
 *
 * `Date.now()` has millisecond resolution, and a burst of publishes arrives within one millisecond, so a stamp from
 * it alone made every reading of such a burst one point in the store (issue 24). The stamp is the wall clock read
 * with sub-millisecond precision — `Date.now()` anchored once against a monotonic high-resolution counter — and
 * never less than the previous stamp plus what the previous publish reserved: each publish reserves as many
 * nanoseconds as a message may carry readings (`maxReadingsPerMessage`), because the normalizer gives the
 * untimed readings of one payload `stamp + i`. So no two publishes' readings can share a time, whatever the clock
 * does (a step backwards of the wall clock included: the stamp then runs ahead of it until the wall catches up).
 *
 * One clock per process (`processClock`), because one gateway process stamps every device; a per-device clock
 * would be as correct and cost a map.
 */
/**
 * The most readings one message may carry (bridge/normalize/options.ts `maxReadingsPerMessage` defaults to it and
 * may not exceed it): the nanoseconds each publish's stamp reserves, here so the gateway need not know the bridge.
 */
export const MAX_READINGS_PER_MESSAGE = 1_000;

export interface PreciseClock {
  /** A stamp in epoch ns; the next stamp will be at least `reserve` ns later. */
  next(reserve: number): bigint;
}

export interface PreciseClockSources {
  /** Wall clock, epoch ms (Date.now). */
  wallMs(): number;
  /** A monotonic counter in ns with an arbitrary origin (process.hrtime.bigint). */
  monotonicNs(): bigint;
}

const NS_PER_MS = 1_000_000n;

/** The wall clock the high-resolution counter is anchored to is re-read when they drift apart by this much. */
const MAX_DRIFT_NS = 5n * NS_PER_MS;

export function createPreciseClock(sources: PreciseClockSources = defaultSources): PreciseClock {
  let anchorWallNs = BigInt(sources.wallMs()) * NS_PER_MS;
  let anchorMonoNs = sources.monotonicNs();
  let last = -1n;
  let lastReserve = 0n;

  function wallNs(): bigint {
    const precise = anchorWallNs + (sources.monotonicNs() - anchorMonoNs);
    // The monotonic counter does not follow NTP adjustments of the wall clock; re-anchor when they part, so
    // stamps stay close to the receive time the rest of Sluice reports (receivedAt, epoch ms).
    const coarse = BigInt(sources.wallMs()) * NS_PER_MS;
    if (precise < coarse - MAX_DRIFT_NS || precise > coarse + NS_PER_MS + MAX_DRIFT_NS) {
      anchorWallNs = coarse;
      anchorMonoNs = sources.monotonicNs();
      return coarse;
    }
    return precise;
  }

  return {
    next(reserve) {
      const floor = last + lastReserve;
      const now = wallNs();
      last = now > floor ? now : floor;
      lastReserve = BigInt(Math.max(1, Math.ceil(reserve)));
      return last;
    },
  };
}

const defaultSources: PreciseClockSources = { wallMs: () => Date.now(), monotonicNs: () => process.hrtime.bigint() };

/** The process's one clock: the gateway stamps every publish with it (gateway/publish.ts). */
export const processClock: PreciseClock = createPreciseClock();

/** Epoch ns as the decimal string a reading carries → epoch ms (floor), the reading's `ts`. */
export function msOfNs(timeNs: bigint): number {
  return Number(timeNs / NS_PER_MS);
}
