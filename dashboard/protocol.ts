/**
 * The wire contract between the dashboard server and its clients (the web app, socket.io-client tools):
 * types only, no runtime code, so the browser bundle can share them. Event names are documented in
 * live-socket.ts.
 *
 * What core/reading.ts declares is imported from there (type-only, so the bundle gets no code from it; the web
 * app's tsconfig compiles that file too). core/seams.ts needs Node's types, which the web app does not have: the
 * types copied from it here are checked against it by test/unit/dashboard/protocol.test.ts.
 */
import type { DeadLetter, Reading, ReadingValue } from '../core/reading.js';

export type { ReadingValue } from '../core/reading.js';
/** A device event as pushed to socket.io clients: core's DeviceEvent as it is. */
export type { DeviceEvent as DeviceEventMessage } from '../core/reading.js';

/** A device's status in the fleet view: `DeviceSummary['status']` of core/seams.ts. */
export type DeviceStatusName = 'online' | 'offline' | 'unknown';

/**
 * One reading as pushed to socket.io clients: the contract reading without tags. `ts` with `receivedAt` (epoch ms
 * at the gateway) lets a client measure push latency.
 */
export type LiveReading = Omit<Reading, 'tags'>;

/** Newest value per metric: `DeviceSummary['latest']` of core/seams.ts. */
export type LatestValues = Record<string, { value: ReadingValue; unit?: string; ts: number }>;

/** One row of the fleet view: core/seams.ts `DeviceSummary` with rates. */
export interface FleetRow {
  id: string;
  status: DeviceStatusName;
  statusSince?: number;
  /** Epoch ms of the newest reading or status change; 0 when never seen. */
  lastSeen: number;
  /** MQTT messages per second over the rate window (readings of one message share `receivedAt`). */
  msgsPerSec: number;
  /** Readings per second over the rate window. */
  readingsPerSec: number;
  latest: LatestValues;
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

export interface PartitionLag {
  partition: number;
  /** Next offset the group will read; null when it has committed nothing yet. */
  committed: string | null;
  end: string;
  lag: number;
}

export interface GroupLag {
  groupId: string;
  topic: string;
  totalLag: number;
  partitions: PartitionLag[];
}

export interface LagReport {
  available: boolean;
  note?: string;
  groups: GroupLag[];
}

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
