/**
 * The wire contract between the dashboard server and its clients (the web app, socket.io-client tools):
 * types only, no runtime code, so the browser bundle can share them. Event names are documented in
 * live-socket.ts.
 *
 * What core declares is imported from there, type-only (the bundle gets no code from it): the reading and events
 * from core/reading.ts, the device summary and consumer lag from core/reports.ts, which stays free of Node's types
 * because the web app's tsconfig compiles these files too.
 */
import type { DeadLetter, Reading } from '../core/reading.js';
import type { ConsumerGroupLag, ConsumerLagReport, DeviceSummary } from '../core/reports.js';

export type { ReadingValue } from '../core/reading.js';
/** A device event as pushed to socket.io clients: core's DeviceEvent as it is. */
export type { DeviceEvent as DeviceEventMessage } from '../core/reading.js';

/** A device's status in the fleet view. */
export type DeviceStatusName = DeviceSummary['status'];

/**
 * One reading as pushed to socket.io clients: the contract reading without tags. `ts` with `receivedAt` (epoch ms
 * at the gateway) lets a client measure push latency.
 */
export type LiveReading = Omit<Reading, 'tags'>;

/** Newest value per metric. */
export type LatestValues = DeviceSummary['latest'];

/** One row of the fleet view: a device's summary with its rates. */
export interface FleetRow extends DeviceSummary {
  /** MQTT messages per second over the rate window (readings of one message share `receivedAt`). */
  msgsPerSec: number;
  /** Readings per second over the rate window. */
  readingsPerSec: number;
}

/** A dead letter without its payload: browsers need the reason, not the bytes. */
export interface DeadLetterSummary extends Pick<DeadLetter, 'deviceId' | 'code' | 'reason' | 'topic' | 'receivedAt'> {
  /** Size of the original payload in bytes. */
  bytes: number;
}

export interface DeviceBatch {
  deviceId: string;
  readings: LiveReading[];
  /** Readings of this tick left out because the batch was full. */
  dropped: number;
}

export interface FleetFrame {
  /** Server time of the frame, epoch ms. */
  ts: number;
  devices: FleetRow[];
}

export interface ReadingsFrame {
  /** Set on device rooms; absent on the fleet-wide readings room. */
  deviceId?: string;
  readings: LiveReading[];
  dropped: number;
}

export type { PartitionLag } from '../core/reports.js';
export type GroupLag = ConsumerGroupLag;
export type LagReport = ConsumerLagReport;

export interface WriterReport {
  /** `absent`: no writer in this process (it runs elsewhere). */
  state: 'writing' | 'retrying' | 'unauthorized' | 'idle' | 'starting' | 'stopped' | 'absent';
  lastError?: string;
  failingSince?: number;
  pointsPerSec: number;
  retriesPerSec: number;
}

export interface PipelineSnapshot {
  mode: 'embedded' | 'production';
  roles: string[];
  at: number;
  uptimeSec: number;
  /** Readings per second produced by the normalizer (the ingest rate). */
  ingestPerSec: number;
  publishesPerSec: number;
  liveReadingsPerSec: number;
  connectedDevices: number;
  socketClients: number;
  inflightRecords: number;
  ackLatencyMs: { p50: number | null; p99: number | null; windowSec: number };
  writer: WriterReport;
  deadLetters: { byReason: Record<string, number>; source: 'metrics' | 'live-feed' };
  backends: Record<string, boolean>;
  lag: LagReport;
  /** Ingest rate once a second, oldest first, for the chart. */
  history: { at: number[]; ingestPerSec: number[] };
}
