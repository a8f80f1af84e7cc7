/**
 * What Sluice carries (contract: docs/contracts.md §5–§7): readings, device events, dead letters, and the payload
 * formats readings come in. As Kafka records they are encoded and decoded by core/records.ts only.
 */

/** The value of a reading: what a payload may carry for one metric. */
export type ReadingValue = number | boolean | string;

/** The one shape every payload format is normalized into (contract: docs/contracts.md §5). */
export interface Reading {
  /** From the authenticated connection, never from the payload. */
  deviceId: string;
  metric: string;
  value: ReadingValue;
  /** SenML unit names where one applies ("Cel", "%RH", "V"). */
  unit?: string;
  /** Epoch milliseconds: `floor(timeNs / 1e6)`, kept for compatibility (docs/contracts.md §5). */
  ts: number;
  /**
   * Epoch nanoseconds as a decimal string (a JSON number cannot hold it): the device's time at the precision it
   * gave, else the gateway's receive stamp plus the reading's place among its payload's untimed readings. The
   * reading's identity in every store: one point per (device, metric, tags, timeNs).
   */
  timeNs: string;
  /** Epoch milliseconds at the gateway. */
  receivedAt: number;
  tags?: Record<string, string>;
}

/** A device's connection state change, carried on `{prefix}.events`. */
export interface DeviceEvent {
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
  /** `auth-failed`: the refused logins this event stands for (the gateway reports them at most every 10 s per reason). */
  count?: number;
  /**
   * `online`/`offline`: the connection the event is about, unique per connection (the gateway's instance id and a
   * counter), the same on that connection's `online` and `offline`. With `connectedAt` it orders a device's status
   * across gateways (core/device-status.ts); absent from older producers' events.
   */
  session?: string;
  /**
   * `online`/`offline`: epoch ms when that connection logged in (on `online` equal to `ts`), on the clock of the
   * gateway that took it. A device's status belongs to its newest connection, whichever event arrives last: a
   * takeover's `offline` of the old connection comes after the new connection's `online`.
   */
  connectedAt?: number;
  /** The instance id of the gateway that emitted the event, for the operator; nothing orders by it. */
  gateway?: string;
}

/** A payload (or part of one) that could not become readings, carried on `{prefix}.deadletter`; made by createDeadLetter (core/records.ts). */
export interface DeadLetter {
  deviceId: string;
  code: string;
  reason: string;
  topic: string;
  /** The original payload, base64; cut to its first DEAD_LETTER_PAYLOAD_BYTES when longer. */
  payload: string;
  /** Size of the original payload in bytes (set by every Sluice producer; optional for older records). */
  payloadBytes?: number;
  /** Present (true) when `payload` holds only the start of the original. */
  payloadTruncated?: true;
  receivedAt: number;
}

/** Dead letters must fit a Kafka record (1 MB by default) whatever a device sent. */
export const DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024;

/**
 * The payload formats the normalizer reads (bridge/normalize/index.ts): JSON, SenML JSON (RFC 8428), InfluxDB line
 * protocol, and a plain `value` (one number, boolean or short string). The one list: everything that names a
 * format takes it from here.
 */
export const PAYLOAD_FORMATS = Object.freeze(['json', 'senml', 'line', 'value'] as const);
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

/**
 * The formats of a whole message, which can be named: every format but `value`, which only a
 * `devices/{id}/telemetry/{metric}` topic selects. A topic suffix (`…/telemetry/$senml`, core/topics.ts), a
 * device's registered format (`sluice devices set-format`) and the simulators (`--format`) choose among these.
 */
export type DocumentFormat = Exclude<PayloadFormat, 'value'>;
export const DOCUMENT_FORMATS: readonly DocumentFormat[] = Object.freeze(PAYLOAD_FORMATS.filter((format): format is DocumentFormat => format !== 'value'));

/** Epoch ms → the `timeNs` of a reading at that millisecond (records from before `timeNs`, times Sluice makes). */
export function timeNsOfMs(ms: number): string {
  return (BigInt(Math.floor(ms)) * 1_000_000n).toString();
}

/**
 * Orders two readings' precise times (negative: `a` first). Equal-length decimal strings compare as text, which
 * spares a BigInt per comparison on hot paths; epoch ns have 19 digits from 2001 to 2286.
 */
export function compareTimeNs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
