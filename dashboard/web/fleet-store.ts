import { applyStatus, holdStatus, isStatusEvent } from '../../core/device-status.js';
import type { DeviceEventMessage, FleetFrame, FleetRow } from '../protocol.js';
import { numeric } from './values.js';

/** Points per sparkline: one per fleet frame that changed the device (~2.5/s), so about 25 s of trend. */
export const SPARK_POINTS = 64;

export interface DeviceRowState extends FleetRow {
  /** Ring buffer of the sparkline metric's values. */
  spark: Float64Array;
  sparkLength: number;
  sparkStart: number;
  sparkMetric?: string;
  /** Bumped on every sparkline change, so a canvas is redrawn only when it must be. */
  sparkVersion: number;
}

/**
 * Every device the page knows: bounded by the fleet size, with a fixed-size sparkline per device. The
 * views read it on their own schedule; frames only mutate it.
 */
export interface FleetStore {
  rows: Map<string, DeviceRowState>;
  version: number;
  applySnapshot(frame: FleetFrame): void;
  applyFrame(frame: FleetFrame): void;
  applyEvent(event: DeviceEventMessage): void;
  /** Server clock minus browser clock, so "since" texts are right on a machine with a skewed clock. */
  skewMs: number;
  /**
   * Whether the rows are current: false while the live link is down, when rates would be stale numbers that
   * look current. Set through setLive, which bumps the version so views redraw.
   */
  live: boolean;
  setLive(live: boolean): void;
}

function pickSparkMetric(row: FleetRow): string | undefined {
  let best: string | undefined;
  for (const [metric, latest] of Object.entries(row.latest)) {
    if (numeric(latest.value) === undefined) continue;
    if (best === undefined || metric < best) best = metric;
  }
  return best;
}

export function createFleetStore(): FleetStore {
  const rows = new Map<string, DeviceRowState>();

  function upsert(row: FleetRow, pushSpark: boolean): void {
    let state = rows.get(row.id);
    if (!state) {
      state = { ...row, spark: new Float64Array(SPARK_POINTS), sparkLength: 0, sparkStart: 0, sparkVersion: 0 };
      rows.set(row.id, state);
    } else {
      const sparkLatestTs = state.sparkMetric ? state.latest[state.sparkMetric]?.ts : undefined;
      Object.assign(state, row);
      // The server's row is the status whole: a row without a connection leaves none of the previous one behind.
      holdStatus(state, row);
      if (state.sparkMetric && row.latest[state.sparkMetric]?.ts === sparkLatestTs) pushSpark = false;
    }
    state.sparkMetric ??= pickSparkMetric(row);
    if (!pushSpark || !state.sparkMetric) return;
    const latest = row.latest[state.sparkMetric];
    const value = latest ? numeric(latest.value) : undefined;
    if (value === undefined) return;
    const index = (state.sparkStart + state.sparkLength) % SPARK_POINTS;
    state.spark[index] = value;
    if (state.sparkLength < SPARK_POINTS) state.sparkLength++;
    else state.sparkStart = (state.sparkStart + 1) % SPARK_POINTS;
    state.sparkVersion++;
  }

  const store: FleetStore = {
    rows,
    version: 0,
    skewMs: 0,
    live: false,
    setLive(live) {
      if (store.live === live) return;
      store.live = live;
      store.version++;
    },
    applySnapshot(frame) {
      store.skewMs = frame.ts - Date.now();
      const seen = new Set<string>();
      for (const row of frame.devices) {
        upsert(row, !rows.has(row.id));
        seen.add(row.id);
      }
      for (const id of rows.keys()) if (!seen.has(id)) rows.delete(id);
      store.version++;
    },
    applyFrame(frame) {
      store.skewMs = frame.ts - Date.now();
      for (const row of frame.devices) upsert(row, true);
      store.version++;
    },
    applyEvent(event) {
      if (!isStatusEvent(event)) return;
      const state = rows.get(event.deviceId);
      if (!state) {
        const row: FleetRow = { id: event.deviceId, status: 'unknown', lastSeen: event.ts, msgsPerSec: 0, readingsPerSec: 0, latest: {} };
        applyStatus(row, event);
        upsert(row, false);
      } else if (!applyStatus(state, event)) {
        // The server's rule (core/device-status.ts) left it out too: an older connection's news, nothing to redraw.
        return;
      }
      store.version++;
    },
  };
  return store;
}
