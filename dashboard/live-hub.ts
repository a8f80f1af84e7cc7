import { isStatusEvent } from '../core/device-status.js';
import type { DeadLetter, DeviceEvent, Reading } from '../core/reading.js';
import type { DeviceSummary } from '../core/seams.js';
import { createLiveAggregator, type LiveAggregator } from './aggregate.js';
import type { FleetFrame, LiveReading, ReadingsFrame } from './protocol.js';

export type { FleetFrame, ReadingsFrame } from './protocol.js';

/**
 * The timing half of live push: collects what the live feed delivers into a `LiveAggregator` and, on two
 * fixed ticks, hands bounded frames to a sink (socket.io in production, an array in tests). Nothing here
 * knows socket.io, so the throttling is unit-tested with fake timers.
 */

export const FLEET_ROOM = 'fleet';
export const FLEET_READINGS_ROOM = 'fleet:readings';
export const deviceRoom = (deviceId: string): string => `device:${deviceId}`;

export interface LiveHubOptions {
  /** How often device batches (`readings`, `dead-letters`) go out. */
  batchIntervalMs: number;
  /** How often fleet row changes (`fleet`) go out. */
  fleetIntervalMs: number;
  maxBatchPerDevice: number;
  maxDeadLettersPerDevice: number;
  rateWindowMs: number;
  now?: () => number;
}

export const defaultLiveHubOptions: Readonly<LiveHubOptions> = Object.freeze({
  // Live push has 250 ms at p99 from publish to screen; a tick of that length would spend all of it waiting.
  batchIntervalMs: 50,
  fleetIntervalMs: 400,
  maxBatchPerDevice: 500,
  maxDeadLettersPerDevice: 20,
  rateWindowMs: 5_000,
});

export interface LiveHubSink {
  /** Whether anyone would receive a frame for this room: frames nobody receives are not built. */
  hasMembers(room: string): boolean;
  /** `droppable`: the frame may be skipped for a client that is not keeping up, instead of being buffered. */
  emit(room: string, event: string, payload: unknown, droppable: boolean): void;
}



export interface LiveHub {
  addReadings(readings: readonly Reading[]): void;
  addDeviceEvent(event: DeviceEvent): void;
  addDeadLetter(deadLetter: DeadLetter): void;
  seed(devices: readonly DeviceSummary[]): void;
  snapshot(): FleetFrame;
  aggregator: LiveAggregator;
  /** Runs both ticks now (tests and shutdown). */
  flush(): void;
  close(): void;
}

export function createLiveHub(partial: Partial<LiveHubOptions>, sink: LiveHubSink): LiveHub {
  const options: LiveHubOptions = { ...defaultLiveHubOptions, ...partial };
  const now = options.now ?? Date.now;
  const aggregator = createLiveAggregator({
    maxBatchPerDevice: options.maxBatchPerDevice,
    maxDeadLettersPerDevice: options.maxDeadLettersPerDevice,
    rateWindowMs: options.rateWindowMs,
    rateBucketMs: Math.max(100, Math.floor(options.rateWindowMs / 5)),
    now,
  });

  function batchTick(): void {
    const batches = aggregator.takeBatches();
    const fleetWide = sink.hasMembers(FLEET_READINGS_ROOM);
    const all: LiveReading[] = [];
    let droppedAll = 0;
    for (const batch of batches) {
      const room = deviceRoom(batch.deviceId);
      if (sink.hasMembers(room)) {
        const frame: ReadingsFrame = { deviceId: batch.deviceId, readings: batch.readings, dropped: batch.dropped };
        sink.emit(room, 'readings', frame, true);
      }
      if (fleetWide) {
        for (const reading of batch.readings) all.push(reading);
        droppedAll += batch.dropped;
      }
    }
    if (fleetWide && (all.length > 0 || droppedAll > 0)) {
      const frame: ReadingsFrame = { readings: all, dropped: droppedAll };
      sink.emit(FLEET_READINGS_ROOM, 'readings', frame, true);
    }
    for (const list of aggregator.takeDeadLetters()) {
      const first = list[0];
      if (!first) continue;
      const room = deviceRoom(first.deviceId);
      // Bounded per tick, and rare: not droppable, so the list in the device view is complete.
      if (sink.hasMembers(room)) sink.emit(room, 'dead-letters', { deviceId: first.deviceId, deadLetters: list }, false);
    }
  }

  function fleetTick(): void {
    const changes = aggregator.takeFleetChanges();
    if (changes.length > 0 && sink.hasMembers(FLEET_ROOM)) {
      const frame: FleetFrame = { ts: now(), devices: changes };
      sink.emit(FLEET_ROOM, 'fleet', frame, true);
    }
  }

  const batchTimer = setInterval(batchTick, options.batchIntervalMs);
  const fleetTimer = setInterval(fleetTick, options.fleetIntervalMs);
  batchTimer.unref?.();
  fleetTimer.unref?.();

  return {
    aggregator,
    addReadings: (readings) => aggregator.addReadings(readings),
    addDeviceEvent(event) {
      // Events are rare and matter: sent at once and never volatile, so no client misses a status flip.
      const room = deviceRoom(event.deviceId);
      if (sink.hasMembers(room)) sink.emit(room, 'device-event', event, false);
      // Auth failures and ACL violations are not status: only the device's own room hears of them.
      if (!isStatusEvent(event)) return;
      aggregator.setStatus(event);
      if (sink.hasMembers(FLEET_ROOM)) sink.emit(FLEET_ROOM, 'device-event', event, false);
    },
    addDeadLetter: (deadLetter) => aggregator.addDeadLetter(deadLetter),
    seed: (devices) => aggregator.seed(devices),
    snapshot: () => ({ ts: now(), devices: aggregator.snapshot() }),
    flush() {
      batchTick();
      fleetTick();
    },
    close() {
      clearInterval(batchTimer);
      clearInterval(fleetTimer);
    },
  };
}
