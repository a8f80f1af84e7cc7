import type { StatusEvent } from './device-status.js';
import type { DeviceEvent, DocumentFormat, PayloadFormat, Reading } from './reading.js';
import type { ConsumerLagReport, DeviceSummary } from './reports.js';

export type { ConsumerGroupLag, ConsumerLagReport, DeviceStatus, DeviceSummary, PartitionLag } from './reports.js';

/**
 * The small interfaces between stages. Each has a Kafka / InfluxDB implementation and an embedded
 * one side by side, so the pipeline code is identical in both ways of running.
 */

/**
 * The streams of docs/contracts.md §6; the Kafka topic is `{prefix}.{stream}`. `rules-state` is the rules stage's
 * changelog: compacted, keyed by device id like the rest, so partition N holds the state of the devices of
 * partition N.
 */
export type StreamName = 'telemetry' | 'events' | 'deadletter' | 'alerts' | 'rules-state';
export const STREAM_NAMES: readonly StreamName[] = ['telemetry', 'events', 'deadletter', 'alerts', 'rules-state'];
/** Streams whose queue keeps only the newest record per key (Kafka: cleanup.policy=compact). */
export const COMPACTED_STREAMS: ReadonlySet<StreamName> = new Set(['rules-state']);

export interface OutgoingRecord {
  /** The device id: records of one device land in one partition, so their order is kept. */
  key: string;
  value: string;
  timestamp?: number;
}

export interface ConsumedRecord {
  key: string;
  value: Buffer;
  partition: number;
  /** Kafka offsets are 64-bit: kept as decimal strings, as kafkajs does. */
  offset: string;
  timestamp: number;
}

export interface RecordBatch {
  stream: StreamName;
  partition: number;
  records: ConsumedRecord[];
  /** Keeps a group membership alive while a handler waits long (a store outage); no-op where not needed. */
  heartbeat: () => Promise<void>;
}

/** Resolves only once the queue has durably accepted every record (Kafka: acks = all). */
export interface StreamProducer {
  send(stream: StreamName, records: OutgoingRecord[]): Promise<void>;
  /** Several streams in one request, so a retry never re-sends one stream without the other. */
  sendBatch(batches: { stream: StreamName; records: OutgoingRecord[] }[]): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerOptions {
  /** Members of one group share the partitions; a consumer without a group reads all of them. */
  groupId?: string;
  streams: StreamName[];
  /** Where a group without committed offsets starts, or a group-less consumer always starts. */
  from: 'earliest' | 'latest' | { timestamp: number };
  /** Partition batches handled at once; a handler that merges batches (the writer) wants all of them. */
  concurrency?: number;
  /**
   * Longest the queue may hold a fetch back to fill it: fewer, fuller batches cost far less CPU per record
   * (in the consumer and in Kafka) than many tiny ones. Latency-sensitive readers keep it short.
   */
  fetchWaitMs?: number;
  /** Called for a group member after every join of its group, with what it was given (see StreamAssignment). */
  onAssignment?: (assignment: StreamAssignment) => void;
  /**
   * Partition N of every stream goes to the same member, so a member holds all records of its devices (the rules
   * stage: readings, events, dead letters and its state). Default: Kafka's round-robin over all topic-partitions.
   */
  copartitioned?: boolean;
}

/**
 * What a group member was given at its group's latest join, and what the group as a whole reads. A member may
 * get nothing when the group has more members than partitions (it stands by); partitions that no member
 * subscribed to them holds are read by no one, which happens when the group id is shared with consumers of
 * other topics (another deployment).
 */
export interface StreamAssignment {
  groupId: string;
  /** Per subscribed stream: its name in the queue, how many partitions it has, the ones this member reads. */
  streams: {
    stream: StreamName;
    topic: string;
    partitions: number;
    assigned: number[];
    /** Partitions no member subscribed to this stream reads; absent when the group could not be inspected. */
    unread?: number[];
  }[];
  /** Members of the group, this one included; absent when the group could not be inspected. */
  members?: number;
  /** Topics of other consumers in this group: handed to this member without its subscribing, or subscribed by other members. */
  foreignTopics: string[];
}

/**
 * A batch handler that resolves means "processed": its offsets are committed afterwards.
 * A handler that throws leaves the offsets alone, and the batch is delivered again.
 */
export type BatchHandler = (batch: RecordBatch) => Promise<void>;

export interface StreamConsumer {
  run(handler: BatchHandler): Promise<void>;
  /** A group member's assignment at its latest join (also passed to `onAssignment`); undefined before the first one. */
  assignment(): StreamAssignment | undefined;
  close(): Promise<void>;
}

export interface StreamBus {
  readonly kind: 'kafka' | 'embedded';
  /** Creates missing topics with the configured partitions and replication factor. */
  ensureStreams(): Promise<void>;
  createProducer(): Promise<StreamProducer>;
  createConsumer(options: ConsumerOptions): StreamConsumer;
  /**
   * Reads these partitions of a stream once, from their first record up to their end as of the call, and resolves
   * when done: restoring state from a changelog. Touches no consumer group's offsets.
   */
  readPartitions(stream: StreamName, partitions: readonly number[], onRecords: (records: ConsumedRecord[]) => void | Promise<void>): Promise<void>;
  /** A table kept in the queue (the device registry); each call is a reader and writer of its own. */
  openTable(table: TableName): CompactedTable;
  /** Whether the queue answers right now; for /readyz. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Per group and partition, how far a consumer group is behind its stream: "is the store keeping up". */
export interface ConsumerLagSource {
  /** `embedded`: the in-process queue, whose groups live in this process; it reports no lag. */
  readonly kind: 'kafka' | 'embedded';
  read(): Promise<ConsumerLagReport>;
  close(): Promise<void>;
}

export interface ReadingQuery {
  deviceId: string;
  metric?: string;
  since?: number;
  limit?: number;
}

/** Where readings end up for good. Writing the same reading twice stores one point. */
export interface ReadingStore {
  readonly kind: 'influx' | 'memory';
  write(readings: readonly Reading[]): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Recent readings and device status, kept in memory for the API and the dashboard. */
export interface FleetState {
  add(readings: readonly Reading[]): void;
  /** An online/offline event, applied by the rule of core/device-status.ts (the newest connection's status wins). */
  setStatus(event: StatusEvent): void;
  query(query: ReadingQuery): Reading[];
  devices(): DeviceSummary[];
}

/** One PUBLISH as the gateway hands it on. */
export interface IngestInput {
  deviceId: string;
  topic: string;
  payload: Buffer;
  receivedAt: number;
  /**
   * The publish's receive stamp in epoch ns from the process clock (core/precise-clock.ts), which reserved
   * `maxReadingsPerMessage` ns after it: the identity of the publish's readings without a device time. The
   * gateway always sets it; the bridge stamps a publish that comes without one.
   */
  receivedAtNs?: bigint;
  /** The device's registered format, used instead of content detection. */
  format?: PayloadFormat;
}

export interface IngestOutcome {
  readings: number;
  rejected: number;
}

/** Where the gateway hands publishes and device events on: the bridge, on this thread or its own. */
export interface Ingest {
  /**
   * Normalizes one publish and resolves once its readings (and dead letters) are acknowledged by the
   * queue. The gateway admits the publish, and so sends the PUBACK, only after that.
   */
  ingest(input: IngestInput): Promise<IngestOutcome>;
  publishEvent(event: DeviceEvent): Promise<void>;
  /** True while the in-flight cap is reached: QoS 0 publishes are dropped rather than waited for. */
  saturated(): boolean;
  close(): Promise<void>;
}

/**
 * The names a sink goes by (docs/contracts.md §16): in metrics, logs, the pipeline view, its consumer group and its
 * environment prefix. `store` is the store writer (InfluxDB, or the memory store), which runs on the same sink loop.
 */
export type SinkName = 'store' | 'rabbitmq' | 'kinesis' | 'pulsar';
/** The sinks the `forwarder` role runs, each when its environment names a server. */
export type ForwardSinkName = Exclude<SinkName, 'store'>;
export const FORWARD_SINK_NAMES: readonly ForwardSinkName[] = ['rabbitmq', 'kinesis', 'pulsar'];

/** A reading as a sink is given it. */
export interface SinkRecord {
  reading: Reading;
  /** The telemetry record's value as it is in Kafka: the reading as JSON (docs/contracts.md §5), the body sinks forward. */
  json: Buffer;
  /** Stable per reading (readingIdOf, core/records.ts): the same reading delivered twice has the same id. */
  id: string;
}

/** A record the sink will never take (too large, refused by its schema): dead-lettered with `reason`, never retried. */
export interface SinkRefusal {
  /** Index into the records of the write. */
  index: number;
  /** The sink's own words. */
  reason: string;
}

export interface SinkLimits {
  /** Records per write at most. */
  maxRecords: number;
  /** Bytes of `json` per write at most. */
  maxBytes: number;
}

/**
 * Where the sink loop (consumers/sink-loop.ts) delivers readings: the store, or a forward target. A file of the
 * sink's own code (consumers/sinks/) and a line in the registry of sinks (cli/roles/sinks.ts) add one.
 */
export interface Sink {
  readonly name: SinkName;
  /** What one write may hold: the loop cuts its batches to fit. */
  readonly limits: SinkLimits;
  /**
   * Delivers the records, which are in Kafka order (so per device in order, and the sink keeps that order). Resolves
   * once the sink has durably acknowledged every record it does not return as refused. Throws when it could not
   * deliver them all; the loop then retries the whole write after a backoff, so sinks deliver at least once. A thrown
   * sluiceError with `details.retryAfterMs` sets the least wait; code SINK_UNAUTHORIZED (or STORE_UNAUTHORIZED)
   * retries slowly and turns readiness red.
   */
  write(records: readonly SinkRecord[]): Promise<{ refused: SinkRefusal[] }>;
  /** Whether the sink's server answers right now. */
  ping(): Promise<boolean>;
  /** What the sink knows of its connection beyond the last write: shown in the pipeline view. */
  health(): { connected: boolean; note?: string };
  close(): Promise<void>;
}

/** A sink loop's state as its role, readiness and the pipeline view see it. */
export interface SinkStatus {
  sink: SinkName;
  groupId: string;
  state: 'starting' | 'writing' | 'retrying' | 'unauthorized' | 'stopped';
  lastError?: string;
  failingSince?: number;
  /** Readings the sink acknowledged since start, and refused (dead-lettered). */
  delivered: number;
  refused: number;
  /** Kafka record time (receivedAt) of the newest reading the sink acknowledged: how far behind it is, in time. */
  lastDeliveredTs?: number;
  /** Readings taken from Kafka and not yet acknowledged by the sink (bounded by the loop). */
  inFlight: number;
  /** The sink's own view of its connection. */
  connection?: { connected: boolean; note?: string };
  /** The consumer group as of its latest join (see groupVerdict); absent until the first join was looked at. */
  group?: { id: string; ready: boolean; note?: string };
}

/** The store writer as its role sees it, whether it runs on this thread or its own (consumers/writer.ts). */
export interface Writer {
  start(): Promise<void>;
  status(): WriterStatus;
  close(): Promise<void>;
}

export interface WriterStatus {
  state: 'starting' | 'writing' | 'retrying' | 'unauthorized' | 'stopped';
  lastError?: string;
  failingSince?: number;
  /** The consumer group as of its latest join (see writerGroupVerdict); absent until the first join was looked at. */
  group?: { id: string; ready: boolean; note?: string };
}

/** One line of `/readyz`: every role adds the checks of what it depends on. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
  /** Why the check is red, or something an operator should know while it is green; shown under `notes`. */
  note?: () => string | undefined;
}

/** One time range of a stream, read once from the queue (replay). */
export interface HistoryRange {
  stream: StreamName;
  /** Kafka record time (the gateway's receive time), inclusive. */
  fromTs: number;
  /** Exclusive. */
  toTs: number;
  /** Only these keys (device ids); all when absent. */
  keys?: ReadonlySet<string>;
}

export interface HistoryProgress {
  total: number;
  read: number;
}

/** Reads a range of history once, handing its records over in batches (Kafka: readKafkaHistory). */
export type HistoryReader = (
  range: HistoryRange,
  onRecords: (records: { key: string; value: Buffer; timestamp: number }[]) => Promise<void>,
  onProgress: (progress: HistoryProgress) => void,
) => Promise<HistoryProgress>;

/**
 * A device's registration as the registries keep it (docs/contracts.md §12): the secret only as a salted hash
 * (core/registry/secrets.ts).
 */
export interface StoredRegistration {
  hash: string;
  createdAt: string;
  /** Absent in registrations written before it existed. */
  updatedAt?: string;
  /** Payload format forced for `devices/{id}/telemetry`; absent = detected from the content. */
  format?: DocumentFormat;
  /** A disabled device is refused at login (CONNACK 5) and its sessions are closed. */
  disabled?: boolean;
}

/** What `list` shows of a device: everything but the hash, and which scheme the hash uses. */
export interface DeviceListing {
  id: string;
  createdAt: string;
  updatedAt?: string;
  format?: DocumentFormat;
  disabled?: boolean;
  secretHash: 'hmac-sha256' | 'scrypt';
}

/** A change that ends a device's sessions on every gateway. */
export interface RegistryChange {
  deviceId: string;
  change: 'removed' | 'disabled';
}

export interface AddDevicesOptions {
  format?: DocumentFormat;
  /**
   * One secret for every id. `chosen` (a person's choice, the default when a secret is given) is hashed with scrypt;
   * `generated` (random, at least MIN_RANDOM_SECRET_BITS: the bench's and the demo's) with the fast salted HMAC.
   * Without a secret every device gets a fresh generated one.
   */
  secret?: { value: string; origin: 'generated' | 'chosen' };
  onProgress?: (done: number) => void;
}

/**
 * The devices allowed to connect (docs/contracts.md §12): the file `DATA_DIR/devices.json` in embedded mode, the
 * compacted topic `{prefix}.devices` with Kafka, which every gateway reads to its end before it accepts connections
 * and follows from then on. Reads answer from memory; writes resolve once the backing store has them.
 */
export interface DeviceRegistry {
  readonly kind: 'file' | 'kafka';
  /** Reads the whole registry and follows its changes; resolves once it is read up to its end as of the call. */
  open(): Promise<void>;
  /** Registers (or re-registers, with a new secret) the devices; the secrets are returned once and never stored. */
  add(ids: readonly string[], options?: AddDevicesOptions): Promise<{ id: string; secret: string }[]>;
  /** Takes over registrations as they are (hashes included): `sluice devices import`. */
  import(registrations: Readonly<Record<string, StoredRegistration>>): Promise<number>;
  remove(id: string): Promise<boolean>;
  /** Sets (or with `undefined` clears) the forced payload format; false when the device is unknown. */
  setFormat(id: string, format: DocumentFormat | undefined): Promise<boolean>;
  setDisabled(id: string, disabled: boolean): Promise<boolean>;
  list(): DeviceListing[];
  get(id: string): DeviceListing | undefined;
  verify(id: string, secret: string): Promise<boolean>;
  /**
   * True when the secret is the one this device last proved (a fast digest, no scrypt); false means "not known",
   * not "wrong": `verify` decides then.
   */
  verifyRemembered(id: string, secret: string): boolean;
  /** Called for every removal or disabling seen, from this process or any other. */
  onChange(listener: (change: RegistryChange) => void): () => void;
  /** For /readyz: read to its end and following; the note says why not, or what an operator should fix. */
  health(): { ready: boolean; note?: string };
  close(): Promise<void>;
}

/** Tables kept in the queue besides the streams: compacted, one partition, read whole (docs/contracts.md §6). */
export type TableName = 'devices';

/** One record of a compacted table (Kafka: a compacted topic); `value` null is a tombstone. */
export interface TableRecord {
  key: string;
  value: Buffer | null;
}

/** A keyed table kept in the queue: read whole, then followed; the registry's backing in production. */
export interface CompactedTable {
  /** Calls `onRecords` for every record from the first; resolves once the end as of the call is read, then keeps following. */
  follow(onRecords: (records: TableRecord[]) => void): Promise<void>;
  /** Resolves once the queue has durably accepted the records (Kafka: acks = all). */
  write(records: readonly { key: string; value: string | null }[]): Promise<void>;
  health(): { following: boolean; note?: string };
  close(): Promise<void>;
}
