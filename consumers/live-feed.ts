import { EventEmitter } from 'node:events';
import type { AlertTransition } from '../core/alerts.js';
import { isStatusEvent } from '../core/device-status.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { DeadLetter, DeviceEvent, Reading } from '../core/reading.js';
import { decodeAlert, decodeDeadLetter, decodeEvent, decodeReadings } from '../core/records.js';
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
  /**
   * Alert transitions: the whole alerts stream from its earliest record at start, then each as it arrives. The
   * same transition may come twice (the reader restarted); listeners dedupe by (alertId, seq).
   */
  on(event: 'alert', listener: (transition: AlertTransition) => void): void;
  close(): Promise<void>;
}

/**
 * A group-less reader of telemetry, events and alerts (every dashboard instance sees every device). It
 * keeps the fleet state current and fans readings out to listeners.
 *
 * Telemetry, events and dead letters are read back from the warm-up window; alerts from the earliest record
 * kept, by a reader of their own: an alert raised last week and still open must show, and the alerts stream
 * holds transitions only, so reading all of it is cheap.
 */
export function createLiveFeed(options: LiveFeedOptions, deps: LiveFeedDeps): LiveFeed {
  const log = deps.logger.child({ module: 'live-feed' });
  const emitter = new EventEmitter();
  let consumer: StreamConsumer | undefined;
  let alertConsumer: StreamConsumer | undefined;

  function startAlerts(): Promise<void> {
    alertConsumer = deps.bus.createConsumer({ streams: ['alerts'], from: 'earliest', fetchWaitMs: LIVE_FETCH_WAIT_MS });
    return alertConsumer.run(async (batch) => {
      let invalid = 0;
      for (const record of batch.records) {
        const transition = decodeAlert(record);
        if (transition) emitter.emit('alert', transition);
        else invalid++;
      }
      if (invalid > 0) log.debug({ count: invalid }, 'skipped records that are not alert transitions');
    });
  }

  return {
    async start() {
      consumer = deps.bus.createConsumer({
        streams: ['telemetry', 'events', 'deadletter'],
        from: { timestamp: Date.now() - options.warmWindowMs },
        // Live push has 250 ms at p99 end to end: the fetch may wait only a small part of it.
        fetchWaitMs: LIVE_FETCH_WAIT_MS,
      });
      const readingsStarted = consumer.run(async (batch) => {
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
            if (isStatusEvent(event)) deps.fleet.setStatus(event);
            emitter.emit('device-event', event);
          }
        } else if (batch.stream === 'deadletter') {
          for (const record of batch.records) {
            const deadLetter = decodeDeadLetter(record);
            if (deadLetter) emitter.emit('dead-letter', deadLetter);
          }
        }
      });
      // Both readers join (a Kafka group each) at once rather than one after the other.
      await Promise.all([readingsStarted, startAlerts()]);
    },
    on(
      event: 'readings' | 'device-event' | 'dead-letter' | 'alert',
      listener: ((readings: Reading[]) => void) | ((event: DeviceEvent) => void) | ((deadLetter: DeadLetter) => void) | ((transition: AlertTransition) => void),
    ) {
      emitter.on(event, listener as (payload: unknown) => void);
    },
    async close() {
      await Promise.all([consumer?.close(), alertConsumer?.close()]);
      emitter.removeAllListeners();
    },
  };
}
