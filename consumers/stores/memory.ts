import { createFleetState } from '../../core/fleet-state.js';
import type { Reading } from '../../core/reading.js';
import type { ReadingQuery, ReadingStore } from '../../core/seams.js';

export interface MemoryStore extends ReadingStore {
  query(query: ReadingQuery): Reading[];
  size(): number;
}

/**
 * The embedded default's store: bounded by count (oldest points go first), keyed like InfluxDB at ns precision
 * (device, metric, timeNs), so writing a reading twice keeps one point and readings in one ms stay apart. Nothing survives a restart.
 */
export function createMemoryStore(options: { maxReadings: number }): MemoryStore {
  const state = createFleetState({
    windowMs: Number.POSITIVE_INFINITY,
    maxPerSeries: options.maxReadings,
    maxReadings: options.maxReadings,
  });
  return {
    kind: 'memory',
    async write(readings) {
      state.add(readings);
    },
    query: (query) => state.query(query),
    size: () => state.size(),
    async ping() {
      return true;
    },
    async close() {},
  };
}
