/**
 * `sluice bench --sink NAME`: what the forward sinks (docs/contracts.md §16) delivered, measured from outside at the
 * sink's own server, as the store is read back. The bench starts the sink's private server (scripts/sinks/NAME.ts),
 * points the forwarder at it, and reads the target while the load runs:
 *
 * - every message is a reading (its body the reading's JSON); one is counted by its reading id (`readingIdOf`), so a
 *   redelivered reading is a duplicate, not a second reading;
 * - an acknowledged reading that never arrives (by the end of `--sink-wait`) is lost;
 * - publish→sink latency is the message's arrival minus the device's publish time, which the payload carries (the
 *   reading's `ts`), after the warm-up, as the live-push and store meters time theirs (./meters.ts);
 * - forwarded/s is the distinct readings that arrived in the window of `ingestPerSec` (first publish → last PUBACK),
 *   over that window: the two are comparable figures of one run.
 *
 * The tally is pure (fed messages, asked for figures), so it is tested without a server.
 */
import * as hdr from 'hdr-histogram-js';
import { readingIdOf } from '../core/records.js';
import type { ForwardSinkName } from '../core/seams.js';
import type { ForwardedMessage, PrivateSinkServer } from '../scripts/sinks/types.js';
import { BENCH_METRIC, decodeSequence } from './payload.js';

/** One sink's figures in the bench JSON (`sinks[]`, docs/contracts.md §13). */
export interface SinkFigures {
  sink: ForwardSinkName;
  /** Messages of this run's readings the server delivered, duplicates included. */
  forwarded: number;
  /** Distinct readings among them (by reading id). */
  distinct: number;
  /** Messages carrying a reading that had arrived before (forwarded − distinct). */
  duplicates: number;
  /** Acknowledged readings that never arrived by the end of the wait. */
  lost: number;
  /** Distinct readings that arrived between the first publish and the last PUBACK, per second of that window. */
  perSec: number;
  /** Device publish → message at the bench's consumer, readings published after the warm-up; null when none was timed. */
  latencyMs: { p50: number | null; p99: number | null };
  /** From the last PUBACK until the last reading arrived; null when some acknowledged reading never did. */
  drainS: number | null;
}

/** The load's window, as `ingestPerSec` measures it (epoch ms). */
export interface LoadWindow {
  firstSendAt: number;
  lastAckAt: number;
}

export interface SinkTally {
  readonly sink: ForwardSinkName;
  /** One message from the sink's server. */
  add(message: Pick<ForwardedMessage, 'body' | 'arrivedAt'>): void;
  /** Readings published (device time) from this epoch ms on are timed. */
  measureFrom(epochMs: number): void;
  /** Distinct readings so far. */
  distinct(): number;
  /** Messages that were not a reading of this run (another run's, a probe's, not JSON); not counted anywhere else. */
  foreign(): number;
  /** Acknowledged readings (rows as the load returns them: 1 = acknowledged) that have not arrived yet. */
  missing(ackedRows: ReadonlyMap<number, Uint8Array>): number;
  /** Epoch ms of the latest first arrival of a reading; undefined before any. */
  lastArrivalAt(): number | undefined;
  /** Epoch ms of the first message of a reading; undefined before any. */
  firstArrivalAt(): number | undefined;
  figures(window: LoadWindow, ackedRows: ReadonlyMap<number, Uint8Array>): SinkFigures;
}

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** The reading a body holds, when it is one of this run's bench readings; undefined otherwise. */
function benchReading(body: Buffer, runId: string): { id: string; sequence: number; ts: number } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const reading = parsed as { deviceId?: unknown; metric?: unknown; value?: unknown; ts?: unknown; timeNs?: unknown; tags?: unknown };
  if (reading.metric !== BENCH_METRIC || typeof reading.value !== 'number' || typeof reading.ts !== 'number') return undefined;
  if (typeof reading.deviceId !== 'string' || typeof reading.timeNs !== 'string') return undefined;
  const tags = reading.tags as Record<string, string> | undefined;
  if (typeof tags !== 'object' || tags === null || tags.run !== runId) return undefined;
  return { id: readingIdOf({ deviceId: reading.deviceId, metric: reading.metric, timeNs: reading.timeNs, tags }), sequence: reading.value, ts: reading.ts };
}

export function createSinkTally(sink: ForwardSinkName, runId: string): SinkTally {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  const ids = new Set<string>();
  /** arrived[deviceIndex][message] = 1 once that reading arrived. */
  const arrived = new Map<number, Uint8Array>();
  /** First-arrival times of the distinct readings, in the order they came. */
  const arrivals: number[] = [];
  let forwarded = 0;
  let foreign = 0;
  let timedFrom = Number.POSITIVE_INFINITY;
  let last: number | undefined;

  const mark = (sequence: number): void => {
    const { deviceIndex, message } = decodeSequence(sequence);
    let row = arrived.get(deviceIndex);
    if (!row || message >= row.length) {
      const grown = new Uint8Array(Math.max(message + 1, (row?.length ?? 0) * 2, 64));
      if (row) grown.set(row);
      arrived.set(deviceIndex, (row = grown));
    }
    row[message] = 1;
  };

  const missing = (ackedRows: ReadonlyMap<number, Uint8Array>): number => {
    let count = 0;
    for (const [deviceIndex, acked] of ackedRows) {
      const row = arrived.get(deviceIndex);
      for (let message = 0; message < acked.length; message++) if (acked[message] === 1 && row?.[message] !== 1) count++;
    }
    return count;
  };

  return {
    sink,
    add({ body, arrivedAt }) {
      const reading = benchReading(body, runId);
      if (!reading) {
        foreign++;
        return;
      }
      forwarded++;
      if (ids.has(reading.id)) return;
      ids.add(reading.id);
      mark(reading.sequence);
      arrivals.push(arrivedAt);
      last = last === undefined ? arrivedAt : Math.max(last, arrivedAt);
      if (reading.ts >= timedFrom) histogram.recordValue(Math.max(1, arrivedAt - reading.ts));
    },
    measureFrom: (epochMs) => (timedFrom = epochMs),
    distinct: () => ids.size,
    foreign: () => foreign,
    missing,
    lastArrivalAt: () => last,
    firstArrivalAt: () => arrivals[0],
    figures(window, ackedRows) {
      const lost = missing(ackedRows);
      const seconds = Math.max(0.001, (window.lastAckAt - window.firstSendAt) / 1000);
      let inWindow = 0;
      for (const at of arrivals) if (at >= window.firstSendAt && at <= window.lastAckAt) inWindow++;
      const timed = histogram.totalCount > 0;
      return {
        sink,
        forwarded,
        distinct: ids.size,
        duplicates: forwarded - ids.size,
        lost,
        perSec: Math.round(inWindow / seconds),
        latencyMs: { p50: timed ? histogram.getValueAtPercentile(50) : null, p99: timed ? histogram.getValueAtPercentile(99) : null },
        drainS: lost > 0 || last === undefined ? null : round(Math.max(0, last - window.lastAckAt) / 1000),
      };
    },
  };
}

export interface SinkServerOptions {
  /** The run's topic prefix: the server's target is `{prefix}.telemetry`, as the forwarder's default. */
  topicPrefix: string;
  log: (line: string) => void;
}

/**
 * Starts a sink's private server. Each module is loaded only when its sink is asked for, so a bench without `--sink`
 * loads none of them (nor their client libraries).
 */
export async function startSinkServer(sink: ForwardSinkName, options: SinkServerOptions): Promise<PrivateSinkServer> {
  switch (sink) {
    case 'rabbitmq':
      return (await import('../scripts/sinks/rabbitmq.js')).startPrivateRabbitmq(options);
    case 'kinesis':
      return (await import('../scripts/sinks/kinesis.js')).startPrivateKinesis(options);
    case 'pulsar':
      return (await import('../scripts/sinks/pulsar.js')).startPrivatePulsar(options);
  }
}

/**
 * The forwarder's own view of a sink's writes, from its Prometheus metrics (`sluice_sink_write_seconds{sink}`,
 * `sluice_sink_records_total{sink}`, `sluice_sink_retries_total{sink}`), for the report's notes: how many writes, how
 * many readings each, how long each took until the server acknowledged it. A forwarder writes one batch at a time
 * per member, so readings per write over the time per write bounds its rate. Undefined when no write was counted.
 */
export function describeSinkWrites(sink: ForwardSinkName, ...metricsTexts: string[]): string | undefined {
  const value = (metric: string): number => {
    let total = 0;
    const pattern = new RegExp(`^${metric}\\{sink="${sink}"\\} ([0-9.e+-]+)$`, 'gm');
    for (const text of metricsTexts) for (const match of text.matchAll(pattern)) total += Number(match[1]);
    return total;
  };
  const writes = value('sluice_sink_write_seconds_count');
  if (!(writes > 0)) return undefined;
  const seconds = value('sluice_sink_write_seconds_sum');
  const records = value('sluice_sink_records_total');
  const retries = value('sluice_sink_retries_total');
  return (
    `sink ${sink} (the forwarder's own metrics): ${writes.toLocaleString('en-US')} writes of ${(records / writes).toFixed(0)} readings on average, ` +
    `${((seconds / writes) * 1000).toFixed(1)} ms each until acknowledged${retries > 0 ? `; ${retries.toLocaleString('en-US')} retried` : ''}`
  );
}

/** A sink's server with the bench reading it. */
export interface SinkMeter {
  server: PrivateSinkServer;
  tally: SinkTally;
  /** Stops reading (idempotent). */
  close(): Promise<void>;
}

/** Reads the server's target from its beginning on, into a tally. */
export async function meterSink(server: PrivateSinkServer, runId: string): Promise<SinkMeter> {
  const tally = createSinkTally(server.sink, runId);
  const reader = await server.consume((message) => tally.add(message));
  let closed: Promise<void> | undefined;
  return { server, tally, close: () => (closed ??= reader.close()) };
}
