import { applyStatus, holdStatus, type StatusEvent } from '../core/device-status.js';
import type { DeadLetter, Reading } from '../core/reading.js';
import type { DeviceSummary } from '../core/seams.js';
import type { DeadLetterSummary, DeviceBatch, FleetRow, LiveReading } from './protocol.js';

export type { DeadLetterSummary, DeviceBatch, FleetRow, LiveReading } from './protocol.js';

/**
 * Server-side aggregation for live push (pure: no timers, no I/O; the clock is injected). The live feed
 * may deliver tens of thousands of readings per second; browsers get, per tick, the latest value per
 * metric and a bounded batch per device instead of one message per reading.
 */






export function toLiveReading(reading: Reading): LiveReading {
  return {
    deviceId: reading.deviceId,
    metric: reading.metric,
    value: reading.value,
    ...(reading.unit ? { unit: reading.unit } : {}),
    ts: reading.ts,
    timeNs: reading.timeNs,
    receivedAt: reading.receivedAt,
  };
}

export function summarizeDeadLetter(deadLetter: DeadLetter): DeadLetterSummary {
  return {
    deviceId: deadLetter.deviceId,
    code: deadLetter.code,
    reason: String(deadLetter.reason ?? ''),
    topic: String(deadLetter.topic ?? ''),
    receivedAt: deadLetter.receivedAt,
    // base64: 4 characters carry 3 bytes, minus padding.
    bytes: typeof deadLetter.payload === 'string' ? Math.floor((deadLetter.payload.length * 3) / 4) - (deadLetter.payload.match(/=+$/)?.[0].length ?? 0) : 0,
  };
}

/**
 * Events per second over a sliding window of fixed buckets: O(1) memory per counter, no timestamps kept.
 * The current bucket is partial, so the window is the full buckets before it plus the elapsed part.
 */
export interface RateCounter {
  add(count: number, now: number): void;
  rate(now: number): number;
}

export function createRateCounter(windowMs: number, bucketMs: number): RateCounter {
  const size = Math.max(1, Math.round(windowMs / bucketMs));
  const buckets = new Array<number>(size).fill(0);
  let current = -1; // bucket number (time / bucketMs) of the newest bucket touched
  let firstBucket = -1; // bucket number of the first event: a new counter has a shorter history

  function advance(now: number): number {
    const bucket = Math.floor(now / bucketMs);
    if (current < 0) {
      current = bucket;
      return bucket;
    }
    if (bucket > current) {
      const steps = Math.min(bucket - current, size);
      for (let i = 1; i <= steps; i++) buckets[(current + i) % size] = 0;
      current = bucket;
    }
    return bucket;
  }

  return {
    add(count, now) {
      const bucket = advance(now);
      if (firstBucket < 0) firstBucket = bucket;
      // A late add for an older bucket still inside the window counts there; older than that, nowhere.
      if (bucket < current - size + 1) return;
      buckets[bucket % size]! += count;
    },
    rate(now) {
      if (firstBucket < 0) return 0;
      advance(now);
      let sum = 0;
      for (const count of buckets) sum += count;
      if (sum === 0) return 0;
      const fullBuckets = Math.min(size - 1, current - firstBucket);
      const elapsedInCurrent = now - current * bucketMs;
      // A counter younger than one bucket would divide by almost nothing: give it a tenth of a bucket.
      const spanMs = fullBuckets * bucketMs + (fullBuckets === 0 ? Math.max(elapsedInCurrent, bucketMs / 10) : elapsedInCurrent);
      return (sum * 1000) / spanMs;
    },
  };
}

export interface LiveAggregatorOptions {
  /** Readings per device kept for one tick's batch; the rest are counted as dropped. */
  maxBatchPerDevice: number;
  /** Dead letters per device kept for one tick. */
  maxDeadLettersPerDevice: number;
  /** Sliding window of the per-device message rate. */
  rateWindowMs: number;
  rateBucketMs: number;
  now: () => number;
}

interface DeviceState {
  row: FleetRow;
  messages: RateCounter;
  readings: RateCounter;
}

export interface LiveAggregator {
  addReadings(readings: readonly Reading[]): void;
  /** An online/offline event, applied by the rule of core/device-status.ts (the newest connection's status wins). */
  setStatus(event: StatusEvent): void;
  addDeadLetter(deadLetter: DeadLetter): void;
  /** Seeds rows from the fleet state (status and latest values of devices seen before we started). */
  seed(devices: readonly DeviceSummary[]): void;
  /** The batches collected since the last call, then clears them. */
  takeBatches(): DeviceBatch[];
  takeDeadLetters(): DeadLetterSummary[][];
  /** Rows that changed since the last call (including rates still decaying to zero), then clears them. */
  takeFleetChanges(): FleetRow[];
  /** Every row, for a client that just joined. */
  snapshot(): FleetRow[];
  row(deviceId: string): FleetRow | undefined;
  deviceCount(): number;
}

export function createLiveAggregator(options: LiveAggregatorOptions): LiveAggregator {
  const devices = new Map<string, DeviceState>();
  const batches = new Map<string, DeviceBatch>();
  const deadLetters = new Map<string, DeadLetterSummary[]>();
  const dirty = new Set<string>();
  /** Devices whose last pushed rate was not zero: they are re-sent until it is. */
  const moving = new Set<string>();

  function stateFor(deviceId: string): DeviceState {
    let state = devices.get(deviceId);
    if (!state) {
      state = {
        row: { id: deviceId, status: 'unknown', lastSeen: 0, msgsPerSec: 0, readingsPerSec: 0, latest: {} },
        messages: createRateCounter(options.rateWindowMs, options.rateBucketMs),
        readings: createRateCounter(options.rateWindowMs, options.rateBucketMs),
      };
      devices.set(deviceId, state);
    }
    return state;
  }

  function refreshRates(state: DeviceState, now: number): void {
    state.row.msgsPerSec = round2(state.messages.rate(now));
    state.row.readingsPerSec = round2(state.readings.rate(now));
  }

  return {
    addReadings(readings) {
      const now = options.now();
      let previous: Reading | undefined;
      for (const reading of readings) {
        const state = stateFor(reading.deviceId);
        const row = state.row;
        const latest = row.latest[reading.metric];
        if (!latest || latest.ts <= reading.ts) {
          row.latest[reading.metric] = { value: reading.value, ts: reading.ts, ...(reading.unit ? { unit: reading.unit } : {}) };
        }
        row.lastSeen = Math.max(row.lastSeen, reading.receivedAt);
        state.readings.add(1, now);
        // Readings of one MQTT message are adjacent and share deviceId and receivedAt.
        if (!previous || previous.deviceId !== reading.deviceId || previous.receivedAt !== reading.receivedAt) state.messages.add(1, now);
        previous = reading;
        dirty.add(reading.deviceId);

        let batch = batches.get(reading.deviceId);
        if (!batch) {
          batch = { deviceId: reading.deviceId, readings: [], dropped: 0 };
          batches.set(reading.deviceId, batch);
        }
        if (batch.readings.length < options.maxBatchPerDevice) batch.readings.push(toLiveReading(reading));
        else batch.dropped++;
      }
    },

    setStatus(event) {
      const row = stateFor(event.deviceId).row;
      if (!applyStatus(row, event)) return;
      row.lastSeen = Math.max(row.lastSeen, event.ts);
      dirty.add(event.deviceId);
    },

    addDeadLetter(deadLetter) {
      let list = deadLetters.get(deadLetter.deviceId);
      if (!list) {
        list = [];
        deadLetters.set(deadLetter.deviceId, list);
      }
      if (list.length < options.maxDeadLettersPerDevice) list.push(summarizeDeadLetter(deadLetter));
    },

    seed(summaries) {
      for (const summary of summaries) {
        const row = stateFor(summary.id).row;
        if (row.statusSince === undefined && summary.statusSince !== undefined) {
          // With its connection: a takeover's late offline is ordered against it as the fleet state ordered it.
          holdStatus(row, summary);
        } else if (row.status === 'unknown') {
          row.status = summary.status;
        }
        row.lastSeen = Math.max(row.lastSeen, summary.lastSeen);
        for (const [metric, latest] of Object.entries(summary.latest)) {
          const current = row.latest[metric];
          if (!current || current.ts < latest.ts) row.latest[metric] = { ...latest };
        }
      }
    },

    takeBatches() {
      const taken = [...batches.values()];
      batches.clear();
      return taken;
    },

    takeDeadLetters() {
      const taken = [...deadLetters.values()];
      deadLetters.clear();
      return taken;
    },

    takeFleetChanges() {
      const now = options.now();
      const ids = new Set([...dirty, ...moving]);
      dirty.clear();
      const changes: FleetRow[] = [];
      for (const id of ids) {
        const state = devices.get(id);
        if (!state) continue;
        refreshRates(state, now);
        if (state.row.msgsPerSec > 0 || state.row.readingsPerSec > 0) moving.add(id);
        else moving.delete(id);
        changes.push(cloneRow(state.row));
      }
      return changes;
    },

    snapshot() {
      const now = options.now();
      const rows: FleetRow[] = [];
      for (const state of devices.values()) {
        refreshRates(state, now);
        rows.push(cloneRow(state.row));
      }
      return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    row(deviceId) {
      const state = devices.get(deviceId);
      if (!state) return undefined;
      refreshRates(state, options.now());
      return cloneRow(state.row);
    },

    deviceCount: () => devices.size,
  };
}

function cloneRow(row: FleetRow): FleetRow {
  return { ...row, latest: { ...row.latest } };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
