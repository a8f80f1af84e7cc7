import type { DeadLetter, DeviceEvent } from '../core/reading.js';
import { summarizeDeadLetter, type DeadLetterSummary } from './aggregate.js';

export interface DeviceActivityOptions {
  /** Events and dead letters kept per device (newest win). */
  maxPerDevice: number;
  /**
   * Devices tracked at most. Auth failures carry whatever username was tried, so the set of ids is not
   * bounded by the registry: the least recently active device is forgotten first.
   */
  maxDevices: number;
}

export interface DeviceActivity {
  addEvent(event: DeviceEvent): void;
  addDeadLetter(deadLetter: DeadLetter): void;
  /** Newest first. */
  events(deviceId: string): DeviceEvent[];
  /** Newest first. */
  deadLetters(deviceId: string): DeadLetterSummary[];
  /** Dead letters seen by the live feed per reason code (including the warm-up window). */
  deadLetterCounts(): Record<string, number>;
}

interface Entry {
  events: DeviceEvent[];
  deadLetters: DeadLetterSummary[];
}

/** The recent status events and dead letters of each device, for the device view. Bounded in both directions. */
export function createDeviceActivity(options: DeviceActivityOptions): DeviceActivity {
  const entries = new Map<string, Entry>();
  const counts = new Map<string, number>();

  function touch(deviceId: string): Entry {
    let entry = entries.get(deviceId);
    if (entry) {
      // Re-insert: Map keeps insertion order, so the first key is the least recently active device.
      entries.delete(deviceId);
    } else {
      entry = { events: [], deadLetters: [] };
    }
    entries.set(deviceId, entry);
    if (entries.size > options.maxDevices) {
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
    return entry;
  }

  function push<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > options.maxPerDevice) list.splice(0, list.length - options.maxPerDevice);
  }

  return {
    addEvent(event) {
      push(touch(event.deviceId).events, event);
    },
    addDeadLetter(deadLetter) {
      push(touch(deadLetter.deviceId).deadLetters, summarizeDeadLetter(deadLetter));
      counts.set(deadLetter.code, (counts.get(deadLetter.code) ?? 0) + 1);
    },
    events: (deviceId) => [...(entries.get(deviceId)?.events ?? [])].reverse(),
    deadLetters: (deviceId) => [...(entries.get(deviceId)?.deadLetters ?? [])].reverse(),
    deadLetterCounts: () => Object.fromEntries(counts),
  };
}
