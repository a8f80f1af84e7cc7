/** One fault of a run as the bench reports it: what was applied, and what it did to ingest, the devices and the store. */
import type { AppliedFault } from './fault-runner.js';
import type { FaultKind } from './faults.js';
import type { LoadResult } from './load.js';
import { computeRecovery, medianStaleness, storeCaughtUpS, type StorePoll } from './recovery.js';

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** One fault of a run, as applied and what it did; times in seconds from the start of the load. */
export interface FaultReport {
  spec: string;
  kind: FaultKind;
  /** "broker 2", "all 3 brokers", "store", "writer", "gateway" ("gateway 1" with --gateways). */
  target: string;
  broker: number | null;
  /** Gateway faults: the index of the gateway process hit. */
  gateway: number | null;
  /** With --gateways N > 1: the device connections the balancer had open to that gateway when it was hit. */
  heldConnections: number | null;
  /** Telemetry partitions the broker led when it was hit, of `partitions`. */
  ledPartitions: number | null;
  partitions: number | null;
  atS: number;
  /** Stop or kill sent. */
  appliedAtS: number | null;
  /** The process (every broker for kafka-down) had exited. */
  downAtS: number | null;
  /** Restart done: answering, serving, listening. */
  liftedAtS: number | null;
  /** From liftedAt until acked/s (1 s window) was ≥ 95 % of offered (messages that fell due), sustained 3 s; 0 when it already was; null: not before the load ended. */
  recoveryS: number | null;
  /** First 1 s window below 95 % of offered at or after the fault, when it was back (sustained), and how long that took. */
  dipStartS: number | null;
  backAtS: number | null;
  dipS: number | null;
  /** Lowest acked/s (1 s window) from the fault until back. */
  minPerSec: number;
  minPct: number;
  /** Connections the devices saw dropped from the fault until ingest was back (or the end of the load). */
  disconnects: number;
  /**
   * When as many devices had reconnected as had been dropped since the fault (null: none dropped, or not all back);
   * not before the fault was lifted, unless other gateways were running to take the devices meanwhile.
   */
  reconnectedAtS: number | null;
  /** After liftedAt, when the sampled devices' newest stored points were again as fresh as before the first fault. */
  storeCaughtUpS: number | null;
  error?: string;
}

/** One fault's report: what was applied, and what it did to ingest and to the store. */
export function reportFault(
  fault: AppliedFault,
  load: Pick<LoadResult, 'ackedSeries' | 'dueSeries' | 'disconnectSeries' | 'reconnectSeries' | 'seriesBucketMs'>,
  context: { offeredPerSec: number; loadEndMs: number; loadStartAt: number; warmupMs: number; firstFaultAtMs: number; polls: { at: number; stalenessMs: number | null }[]; intervalMs: number },
): FaultReport {
  const s = (ms: number | null): number | null => (ms === null ? null : round(ms / 1000));
  const recovery =
    fault.appliedAtMs === null
      ? null
      : computeRecovery({ acked: load.ackedSeries, offered: load.dueSeries, bucketMs: load.seriesBucketMs, offeredPerSec: context.offeredPerSec, loadEndMs: context.loadEndMs, appliedAtMs: fault.appliedAtMs, liftedAtMs: fault.liftedAtMs });
  // Dropped connections from the fault until ingest was back (or the load ended), and when the devices were back.
  let disconnects = 0;
  let reconnectedAtMs: number | null = null;
  if (fault.appliedAtMs !== null) {
    const endMs = Math.max(fault.liftedAtMs ?? 0, recovery?.backAtS !== null && recovery?.backAtS !== undefined ? recovery.backAtS * 1000 : context.loadEndMs);
    const from = Math.floor(fault.appliedAtMs / load.seriesBucketMs);
    const to = Math.ceil(endMs / load.seriesBucketMs);
    for (let i = from; i < to && i < load.disconnectSeries.length; i++) disconnects += load.disconnectSeries[i]!;
    let dropped = 0;
    let reconnected = 0;
    // With other gateways running, devices come back (to them) before the killed one is restarted.
    const backFromMs = fault.othersRunning !== null && fault.othersRunning > 0 ? fault.appliedAtMs : (fault.liftedAtMs ?? fault.appliedAtMs);
    for (let i = from; i < Math.max(load.disconnectSeries.length, load.reconnectSeries.length); i++) {
      dropped += i < to ? (load.disconnectSeries[i] ?? 0) : 0;
      reconnected += load.reconnectSeries[i] ?? 0;
      if (dropped > 0 && reconnected >= dropped && i >= Math.floor(backFromMs / load.seriesBucketMs)) {
        reconnectedAtMs = (i + 1) * load.seriesBucketMs;
        break;
      }
    }
  }
  const polls: StorePoll[] = context.polls.map((p) => ({ atMs: p.at - context.loadStartAt, stalenessMs: p.stalenessMs }));
  // "Caught up": as fresh as before the first fault (twice the median then, at least 3 s + one message interval).
  const steady = medianStaleness(polls, context.warmupMs, context.firstFaultAtMs);
  const thresholdMs = Math.max(3000 + context.intervalMs, 2 * (steady ?? 0));
  return {
    spec: fault.spec.text,
    kind: fault.spec.kind,
    target: fault.target,
    broker: fault.broker,
    gateway: fault.gateway,
    heldConnections: fault.heldConnections,
    ledPartitions: fault.ledPartitions,
    partitions: fault.partitions,
    atS: fault.spec.atS,
    appliedAtS: s(fault.appliedAtMs),
    downAtS: s(fault.downAtMs),
    liftedAtS: s(fault.liftedAtMs),
    recoveryS: recovery?.recoveryS ?? null,
    dipStartS: recovery?.dipStartS ?? null,
    backAtS: recovery?.backAtS ?? null,
    dipS: recovery?.dipS ?? null,
    minPerSec: recovery?.minPerSec ?? 0,
    minPct: recovery?.minPct ?? 0,
    disconnects,
    reconnectedAtS: s(reconnectedAtMs),
    storeCaughtUpS: storeCaughtUpS(polls, fault.liftedAtMs, thresholdMs),
    ...(fault.error ? { error: fault.error } : {}),
  };
}

export function describeFault(fault: FaultReport, loadEndS: number): string {
  const at = (value: number | null): string => (value === null ? 'never' : `+${value.toFixed(1)} s`);
  const hit = describeHit(fault, 'long');
  const dip = fault.dipStartS === null ? 'ingest never below 95 % of offered' : `ingest below 95 % from ${at(fault.dipStartS)} (min ${fault.minPerSec}/s, ${fault.minPct} %), back ${at(fault.backAtS)}${fault.dipS === null ? '' : ` after ${fault.dipS} s`}`;
  const recovery =
    fault.recoveryS !== null ? `recovery ${fault.recoveryS} s` : fault.liftedAtS === null ? 'never lifted' : fault.liftedAtS >= loadEndS ? 'lifted after the load ended: recovery not measured' : 'not back at rate before the load ended';
  const store = fault.storeCaughtUpS === null ? '' : `; store caught up ${fault.storeCaughtUpS} s after`;
  const devices = fault.disconnects === 0 ? 'no device disconnected' : `${fault.disconnects} disconnects, every device back ${at(fault.reconnectedAtS)}`;
  return `${fault.spec}: ${hit}, applied ${at(fault.appliedAtS)}, lifted ${at(fault.liftedAtS)}; ${dip}; ${recovery}; ${devices}${store}${fault.error ? `; ${fault.error}` : ''}`;
}

/** What a fault hit, with the share of the load it carried: "broker 2 (led 3 of 6 partitions)", "gateway 1 (held 500 device connections)". */
export function describeHit(fault: Pick<FaultReport, 'target' | 'ledPartitions' | 'partitions' | 'heldConnections'>, style: 'long' | 'short'): string {
  if (fault.ledPartitions !== null) return style === 'long' ? `${fault.target} (led ${fault.ledPartitions} of ${fault.partitions} partitions)` : `${fault.target} (led ${fault.ledPartitions}/${fault.partitions})`;
  if (fault.heldConnections !== null) return `${fault.target} (held ${fault.heldConnections} device connections)`;
  return fault.target;
}
