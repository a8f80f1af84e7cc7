import { EventEmitter } from 'node:events';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeadLetter, DeviceEvent, Reading } from '../core/reading.js';
import { decodeDeadLetter, decodeEvent, decodeReadings } from '../core/records.js';
import type { FleetState, StreamBus, StreamConsumer } from '../core/seams.js';

const LIVE_FETCH_WAIT_MS = 20;

export interface LiveFeedOptions {
  /** How much recent history to read back at start, so the API and charts are filled at once. */
  warmWindowMs: number;
}

export interface LiveFeedDeps {
  bus: StreamBus;
  fleet: FleetState;
  logger: Logger;
  metrics: Metrics;
}

export interface LiveFeed {
  start(): Promise<void>;
  /** Readings and device events as they arrive, for socket.io and other push channels. */
  on(event: 'readings', listener: (readings: Reading[]) => void): void;
  on(event: 'device-event', listener: (event: DeviceEvent) => void): void;
  /** Dead letters (rejected payloads) as they arrive, for the dashboard's per-device list. */
  on(event: 'dead-letter', listener: (deadLetter: DeadLetter) => void): void;
  close(): Promise<void>;
}

/**
 * A group-less reader of telemetry and events (every dashboard instance sees every device). It
 * keeps the fleet state current and fans readings out to listeners.
 */
export function createLiveFeed(options: LiveFeedOptions, deps: LiveFeedDeps): LiveFeed {
  const log = deps.logger.child({ module: 'live-feed' });
  const emitter = new EventEmitter();
  let consumer: StreamConsumer | undefined;

  return {
    async start() {
      consumer = deps.bus.createConsumer({
        streams: ['telemetry', 'events', 'deadletter'],
        from: { timestamp: Date.now() - options.warmWindowMs },
        // Live push has 250 ms at p99 end to end: the fetch may wait only a small part of it.
        fetchWaitMs: LIVE_FETCH_WAIT_MS,
      });
      await consumer.run(async (batch) => {
        if (batch.stream === 'telemetry') {
          const { readings, invalid } = decodeReadings(batch.records);
          if (invalid.length > 0) log.debug({ count: invalid.length }, 'skipped records that are not readings');
          deps.fleet.add(readings);
          deps.metrics.liveReadings.inc(readings.length);
          if (readings.length > 0) emitter.emit('readings', readings);
        } else if (batch.stream === 'events') {
          for (const record of batch.records) {
            const event = decodeEvent(record);
            if (!event) continue;
            if (event.type === 'online' || event.type === 'offline') deps.fleet.setStatus(event.deviceId, event.type, event.ts);
            emitter.emit('device-event', event);
          }
        } else if (batch.stream === 'deadletter') {
          for (const record of batch.records) {
            const deadLetter = decodeDeadLetter(record);
            if (deadLetter) emitter.emit('dead-letter', deadLetter);
          }
        }
      });
    },
    on(
      event: 'readings' | 'device-event' | 'dead-letter',
      listener: ((readings: Reading[]) => void) | ((event: DeviceEvent) => void) | ((deadLetter: DeadLetter) => void),
    ) {
      emitter.on(event, listener as (payload: unknown) => void);
    },
    async close() {
      await consumer?.close();
      emitter.removeAllListeners();
    },
  };
}
