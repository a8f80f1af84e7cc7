/**
 * The wire contract between the dashboard server and its clients (the web app, socket.io-client tools):
 * types only, no runtime code, so the browser bundle can share them. Event names are documented in
 * live-socket.ts.
 */

/** Mirrors `ReadingValue` in core/reading.ts. */
export type ReadingValue = number | boolean | string;

/** Mirrors `DeviceStatusName` in core/seams.ts. */
export type DeviceStatusName = 'online' | 'offline' | 'unknown';

/** Mirrors `DeviceEvent` in core/reading.ts. */
export interface DeviceEventMessage {
  deviceId: string;
  /**
   * `refused`: the gateway closed the connection or dropped a publish (reason: a code of README "Refusals");
   * `auth-failed`: a login for this id was refused; `auth-failures`: a burst of them spent its login budget.
   */
  type: 'online' | 'offline' | 'acl-violation' | 'auth-failed' | 'auth-failures' | 'refused';
  reason: string;
  /** The specifics behind the reason, for a person: limits, counts, the topic. */
  detail?: string;
  ts: number;
  remoteAddress?: string;
}

/** One reading as pushed to socket.io clients: the contract reading without tags. */
export interface LiveReading {
  deviceId: string;
  metric: string;
  value: ReadingValue;
  unit?: string;
  /** Epoch ms: device time when given, else receive time. */
  ts: number;
  /** Epoch ms at the gateway; with `ts` it lets a client measure push latency. */
  receivedAt: number;
}

export type LatestValues = Record<string, { value: ReadingValue; unit?: string; ts: number }>;

/** One row of the fleet view. */
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
export interface DeadLetterSummary {
  deviceId: string;
  code: string;
  reason: string;
  topic: string;
  receivedAt: number;
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
