import { applyStatus, type HeldStatus } from './device-status.js';
import { compareTimeNs, type Reading } from './reading.js';
import type { DeviceSummary, FleetState, ReadingQuery } from './seams.js';

export interface FleetStateOptions {
  /** Readings older than this are dropped from the window. */
  windowMs: number;
  /** Bound per device and metric, so one chatty device cannot take the whole memory. */
  maxPerSeries: number;
  /** Bound over everything; the oldest series points go first. */
  maxReadings: number;
  now?: () => number;
}

interface Series {
  readings: Reading[];
  /** Index of the oldest live element: shifting arrays is O(n), so we advance a cursor and compact. */
  start: number;
}

interface DeviceEntry extends HeldStatus {
  id: string;
  lastSeen: number;
  series: Map<string, Series>;
}

/**
 * Readings of one device from two sources as one time-ordered list, a point (metric + timeNs) once, the fresher
 * source winning; `limit` keeps the newest. Embedded mode answers the API from the store, which the writer fills a
 * flush later than the live feed fills the window; a reading just pushed live must also be in the recent window a
 * dashboard loads, or a view that opens in between never shows it.
 */
export function mergeByPoint(older: readonly Reading[], fresher: readonly Reading[], limit?: number): Reading[] {
  const points = new Map<string, Reading>();
  // Keyed by the precise time, as every store is (docs/contracts.md §5): readings in one millisecond stay apart.
  for (const reading of older) points.set(`${reading.metric}\u0000${reading.timeNs}`, reading);
  for (const reading of fresher) points.set(`${reading.metric}\u0000${reading.timeNs}`, reading);
  const merged = [...points.values()].sort((a, b) => compareTimeNs(a.timeNs, b.timeNs));
  return limit !== undefined ? merged.slice(-limit) : merged;
}

/**
 * The recent window of readings per device and metric, plus device status. It backs the embedded
 * store's queries and, in production, the API and dashboard (fed by the live feed consumer).
 */
export function createFleetState(options: FleetStateOptions): FleetState & { size(): number } {
  const now = options.now ?? Date.now;
  const devices = new Map<string, DeviceEntry>();
  let total = 0;

  function entryFor(deviceId: string): DeviceEntry {
    let entry = devices.get(deviceId);
    if (!entry) {
      entry = { id: deviceId, status: 'unknown', lastSeen: 0, series: new Map() };
      devices.set(deviceId, entry);
    }
    return entry;
  }

  function live(series: Series): Reading[] {
    return series.readings.slice(series.start);
  }

  function dropOldest(series: Series, count: number): void {
    series.start += count;
    total -= count;
    if (series.start > 1024 && series.start > series.readings.length / 2) {
      series.readings = series.readings.slice(series.start);
      series.start = 0;
    }
  }

  function expire(series: Series, cutoff: number): void {
    let expired = 0;
    while (series.start + expired < series.readings.length && series.readings[series.start + expired]!.ts < cutoff) expired++;
    if (expired > 0) dropOldest(series, expired);
  }

  function evictGlobally(): void {
    const cutoff = now() - options.windowMs;
    for (const device of devices.values()) for (const series of device.series.values()) expire(series, cutoff);
    // Still too many: drop a slice of the oldest half from each series so the bound holds in one pass.
    if (total > options.maxReadings) {
      for (const device of devices.values()) {
        for (const series of device.series.values()) {
          const liveCount = series.readings.length - series.start;
          dropOldest(series, Math.ceil(liveCount / 2));
        }
      }
    }
  }

  return {
    add(readings) {
      for (const reading of readings) {
        const device = entryFor(reading.deviceId);
        device.lastSeen = Math.max(device.lastSeen, reading.receivedAt);
        let series = device.series.get(reading.metric);
        if (!series) {
          series = { readings: [], start: 0 };
          device.series.set(reading.metric, series);
        }
        // Keep each series in time order; devices that send late data are rare, so insertion from the end is cheap.
        let at = series.readings.length;
        while (at > series.start && compareTimeNs(series.readings[at - 1]!.timeNs, reading.timeNs) > 0) at--;
        const same = at > series.start ? series.readings[at - 1] : undefined;
        if (same && same.timeNs === reading.timeNs) {
          // Same series and precise time is the same point, as in InfluxDB at ns: the last write wins.
          series.readings[at - 1] = reading;
          continue;
        }
        series.readings.splice(at, 0, reading);
        total++;
        if (series.readings.length - series.start > options.maxPerSeries) dropOldest(series, 1);
      }
      if (total > options.maxReadings) evictGlobally();
    },

    setStatus(event) {
      const device = entryFor(event.deviceId);
      // Ordered by connection, not arrival (docs/contracts.md §7): a takeover's late offline leaves the device online.
      if (!applyStatus(device, event)) return;
      device.lastSeen = Math.max(device.lastSeen, event.ts);
    },

    query(query: ReadingQuery) {
      const device = devices.get(query.deviceId);
      if (!device) return [];
      const since = query.since ?? Number.NEGATIVE_INFINITY;
      const cutoff = Math.max(since, now() - options.windowMs);
      const metrics = query.metric === undefined ? [...device.series.keys()] : [query.metric];
      const found: Reading[] = [];
      for (const metric of metrics) {
        const series = device.series.get(metric);
        if (!series) continue;
        for (const reading of live(series)) if (reading.ts >= cutoff) found.push(reading);
      }
      found.sort((a, b) => compareTimeNs(a.timeNs, b.timeNs));
      return query.limit !== undefined ? found.slice(-query.limit) : found;
    },

    devices(): DeviceSummary[] {
      return [...devices.values()]
        .map((device) => {
          const latest: DeviceSummary['latest'] = {};
          for (const [metric, series] of device.series) {
            const newest = series.readings[series.readings.length - 1];
            if (newest && series.readings.length > series.start) {
              latest[metric] = { value: newest.value, ts: newest.ts, ...(newest.unit ? { unit: newest.unit } : {}) };
            }
          }
          return {
            id: device.id,
            status: device.status,
            ...(device.statusSince !== undefined ? { statusSince: device.statusSince } : {}),
            ...(device.session !== undefined && device.connectedAt !== undefined ? { session: device.session, connectedAt: device.connectedAt } : {}),
            lastSeen: device.lastSeen,
            latest,
          };
        })
        .sort((a, b) => a.id.localeCompare(b.id));
    },

    size() {
      return total;
    },
  };
}
