/**
 * The wire contract between the dashboard server and its clients (the web app, socket.io-client tools):
 * types only, no runtime code, so the browser bundle can share them. Event names are documented in
 * live-socket.ts.
 *
 * What core declares is imported from there, type-only (the bundle gets no code from it): the reading and events
 * from core/reading.ts, the device summary and consumer lag from core/reports.ts, the alert transition and the rules
 * report from core/alerts.ts, which stay free of Node's types because the web app's tsconfig compiles these files too.
 */
import type { AlertTransition, Severity } from '../core/alerts.js';
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

/**
 * A forward sink in the pipeline view (docs/contracts.md §16). `elsewhere`: configured, with its forwarder in another
 * process, so only its group's Kafka lag is known here.
 */
export interface SinkReport {
  sink: string;
  groupId: string;
  state: 'writing' | 'retrying' | 'unauthorized' | 'starting' | 'stopped' | 'elsewhere';
  /** Readings the sink acknowledged per second (null where the forwarder runs elsewhere). */
  recordsPerSec: number | null;
  /** Readings refused for good and dead-lettered since start (null elsewhere). */
  refused: number | null;
  /** Records its consumer group has not delivered yet (null without Kafka lag). */
  lagRecords: number | null;
  /** How far behind the sink is in time: the age of the newest reading it acknowledged while it has lag; 0 when it has none. */
  lagSec: number | null;
  lastError?: string;
  failingSince?: number;
  connection?: { connected: boolean; note?: string };
}

/** An alert transition as the alerts stream carries it and the API and socket hand it on: core's AlertTransition. */
export type { AlertTransition, AlertTransitionType, ClearReason, OpenAlertSummary, RuleSummary, RulesReport, Severity } from '../core/alerts.js';

/** Open alerts, counted (dashboard/alerts.ts). */
export interface AlertCounts {
  open: number;
  /** Open alerts nobody has acknowledged yet. */
  unacknowledged: number;
  bySeverity: Record<Severity, number>;
  /** The worst severity among the open alerts; absent when none is open. */
  worst?: Severity;
}

/**
 * `GET /api/alerts`: each alert by its latest transition (`state` open or cleared; `ackBy`/`ackAt` once
 * acknowledged; `clearReason` once cleared, `ts` then being the clear), open ones first, worst severity first,
 * then newest; `counts` are of every open alert, whatever the query.
 */
export interface AlertList {
  alerts: AlertTransition[];
  counts: AlertCounts;
}

/** The socket's `alerts` event, sent on connect: every open alert as the dashboard holds it. */
export interface AlertsSnapshot {
  /** Server time, epoch ms. */
  ts: number;
  open: AlertTransition[];
}

/** The pipeline view's rules section; absent when no rules run here and none were heard of. */
export interface RulesPipelineReport {
  /** Whether the rules role runs in this process: evaluations, late readings, restores and reloads are its metrics. */
  inProcess: boolean;
  /** Records evaluated per second over the rate window; null when the rules run in another process. */
  evaluationsPerSec: number | null;
  /** Readings left out of event-time rules for arriving too late, since start; null when the rules run elsewhere. */
  lateReadings: number | null;
  /**
   * Alert transitions by severity since start: written by this process's rules (`metrics`), or, when they run
   * elsewhere, read from the alerts stream by the live feed (`live-feed`, the stream's retained history included).
   */
  transitions: { bySeverity: Record<Severity, number>; source: 'metrics' | 'live-feed' };
  /** Open alerts as the dashboard holds them (the whole fleet's, whichever member raised them). */
  open: AlertCounts;
  /** Restoring rule state from the changelog when partitions were taken over: the latest, the p99 and how many. */
  restoreSec: { last: number | null; p99: number | null; count: number };
  /** Rules file loads since start; null when the rules run elsewhere. */
  reloads: { loaded: number; invalid: number } | null;
  /** Notifications (webhook, device) since start by outcome; null when the rules run elsewhere. */
  notifications: { sent: number; retried: number; failed: number } | null;
  /** The rules file as the rules role reports it (`GET /api/rules`); absent when it does not run in this process. */
  file?: { source: string; loadedAt: number; rules: number; enabled: number; error?: string };
  /** Kafka consumer lag of the rules groups (ids ending in `-rules`) the lag source reports. */
  lag: ConsumerGroupLag[];
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
  /** The forward sinks configured for this deployment; empty when none is. */
  sinks: SinkReport[];
  deadLetters: { byReason: Record<string, number>; source: 'metrics' | 'live-feed' };
  backends: Record<string, boolean>;
  lag: LagReport;
  /** Ingest rate once a second, oldest first, for the chart. */
  history: { at: number[]; ingestPerSec: number[] };
  rules?: RulesPipelineReport;
}
