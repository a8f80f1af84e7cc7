/**
 * One load-generating worker thread of `sluice bench`: holds its share of the devices (lean MQTT client, one
 * connection each), publishes on an open-loop schedule (a message is due at start + jitter + k / rate whether or
 * not earlier ones were acknowledged, so a slow pipeline shows up as latency, not as a lower offered rate), and
 * records publish → PUBACK latency in an HDR histogram. The main thread only aggregates, so publishing never
 * waits on the store polling or the socket.io client.
 *
 * Each device behaves like firmware (`openLeanSession`): when the server or the network drops its connection it
 * keeps the unacknowledged QoS 1 messages, reconnects with backoff and resends them with DUP set, and queues what
 * falls due meanwhile. A message's PUBACK wait counts from when it was first due, resends and queueing included.
 * Acknowledgements and drops are also counted per 100 ms bucket of the load, for the recovery times of faults.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { telemetryTopic } from '../core/topics.js';
import { ConnackError, openLeanSession, type LeanSession } from '../simulators/lean-mqtt.js';
import { benchPayload, sequenceValue } from './payload.js';
import { SERIES_BUCKET_MS } from './recovery.js';

export interface WorkerInput {
  host: string;
  port: number;
  devices: { index: number; id: string; secret: string }[];
  rate: number;
  durationS: number;
  qos: 0 | 1;
  runId: string;
  payloadBytes: number;
  messagesPerDevice: number;
  connectConcurrency: number;
  /** Past this many unacknowledged messages a device skips its due publishes (counted as `throttled`). */
  maxInflightPerDevice: number;
  drainMs: number;
  /** Connect without credentials (a broker that allows anonymous clients). */
  anonymous?: boolean;
  /** Messages sent in this first part of the load are counted but left out of the latency histogram. */
  warmupMs?: number;
  /** Reconnect backoff of a device after a dropped connection: first delay, doubled up to the most. */
  minReconnectMs?: number;
  maxReconnectMs?: number;
}

export interface DeviceCounts {
  sent: number;
  acked: number;
  /** Explicit refusals the devices were told of: CONNACK ≠ 0 on a reconnect, and publishes of a device that never connected. */
  errors: number;
  throttled: number;
  /** Connections dropped by the server or the network (not ended by the device). */
  disconnects: number;
  reconnects: number;
  /** Reconnect attempts that got no CONNACK (connection refused or reset, timeout). */
  reconnectFailures: number;
  /** Messages sent again with DUP after a reconnect. */
  resent: number;
}

export type WorkerMessage =
  | { type: 'connected'; connected: number; refused: number; failed: number }
  | ({ type: 'progress' } & DeviceCounts)
  | ({
      type: 'done';
      firstSendAt: number;
      lastAckAt: number;
      ackHistogram: string;
      rows: [number, Uint8Array][];
      /** Per SERIES_BUCKET_MS from the start of the load: acknowledgements, dropped connections, reconnects. */
      ackedSeries: number[];
      disconnectSeries: number[];
      reconnectSeries: number[];
      /** Messages that fell due (sent, queued while disconnected, or skipped as throttled): the offered load as it ran. */
      dueSeries: number[];
    } & DeviceCounts);

export type ControlMessage = { type: 'go'; startAt: number };

const input = workerData as WorkerInput;
const port = parentPort!;

interface Device {
  index: number;
  id: string;
  secret: string;
  topic: string;
  session?: LeanSession;
  first: number;
  next: number;
  lastTs: number;
  inflight: number;
  row: Uint8Array;
}

const devices: Device[] = input.devices.map((d, i) => ({
  index: d.index,
  id: d.id,
  secret: d.secret,
  topic: telemetryTopic(d.id),
  // Start jitter spread evenly over one interval, so the devices do not publish in lockstep.
  first: ((i + 0.5) / input.devices.length) * (1000 / input.rate),
  next: 0,
  lastTs: 0,
  inflight: 0,
  row: new Uint8Array(input.messagesPerDevice),
}));

const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
const counts: DeviceCounts = { sent: 0, acked: 0, errors: 0, throttled: 0, disconnects: 0, reconnects: 0, reconnectFailures: 0, resent: 0 };
const ackedSeries: number[] = [];
const disconnectSeries: number[] = [];
const reconnectSeries: number[] = [];
const dueSeries: number[] = [];
let loadStartAt = Number.POSITIVE_INFINITY;
let firstSendAt = 0;
let lastAckAt = 0;
let measureFrom = Number.POSITIVE_INFINITY;

async function connectAll(): Promise<void> {
  let next = 0;
  let refused = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: Math.min(input.connectConcurrency, devices.length) }, async () => {
      while (next < devices.length) {
        const device = devices[next++]!;
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            device.session = await openLeanSession({
              host: input.host,
              port: input.port,
              clientId: device.id,
              ...(input.anonymous ? {} : { username: device.id, password: device.secret }),
              keepaliveS: 60,
              connectTimeoutMs: 120_000,
              minReconnectMs: input.minReconnectMs ?? 250,
              maxReconnectMs: input.maxReconnectMs ?? 5000,
              onDropped: () => {
                counts.disconnects++;
                bump(disconnectSeries);
              },
              onReconnected: ({ resent }) => {
                counts.reconnects++;
                bump(reconnectSeries);
                counts.resent += resent;
              },
              onRefused: () => counts.errors++,
              onConnectFailed: () => counts.reconnectFailures++,
            });
            break;
          } catch (error) {
            if (error instanceof ConnackError) {
              refused++;
              break;
            }
            if (attempt === 2) failed++;
          }
        }
      }
    }),
  );
  port.postMessage({ type: 'connected', connected: devices.filter((d) => d.session).length, refused, failed } satisfies WorkerMessage);
}

/** Counts one event in the bucket of now. */
function bump(series: number[]): void {
  const index = Math.max(0, Math.floor((Date.now() - loadStartAt) / SERIES_BUCKET_MS));
  if (!Number.isFinite(index)) return;
  while (series.length <= index) series.push(0);
  series[index]!++;
}

function publish(device: Device): void {
  const session = device.session;
  const message = device.next++;
  bump(dueSeries);
  if (!session || message >= device.row.length) {
    counts.errors++;
    return;
  }
  // Unacknowledged and queued messages both count: a device holds at most this many readings.
  if (device.inflight >= input.maxInflightPerDevice) {
    counts.throttled++;
    return;
  }
  const now = Date.now();
  const ts = now > device.lastTs ? now : device.lastTs + 1;
  device.lastTs = ts;
  const payload = benchPayload(input.runId, sequenceValue(device.index, message), ts, input.payloadBytes);
  // From the first send: a resend after a reconnect (or a wait in the queue while disconnected) adds to it.
  const started = performance.now();
  if (firstSendAt === 0) firstSendAt = now;
  counts.sent++;
  device.inflight++;
  session.publish(device.topic, payload, input.qos, (error) => {
    device.inflight--;
    // Only the end of the session fails a message: it stays unacknowledged (sent − acked).
    if (error) return;
    counts.acked++;
    lastAckAt = Date.now();
    bump(ackedSeries);
    device.row[message] = 1;
    if (now >= measureFrom) histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
  });
}

function run(startAt: number): void {
  loadStartAt = startAt;
  measureFrom = startAt + (input.warmupMs ?? 0);
  const intervalMs = 1000 / input.rate;
  const total = Math.min(input.messagesPerDevice, Math.floor(input.durationS * input.rate));
  const endAt = startAt + input.durationS * 1000;
  const progress = setInterval(() => port.postMessage({ type: 'progress', ...counts } satisfies WorkerMessage), 500);
  // A 2 ms tick: every device publishes whatever is due. Cheaper than one timer per device at these rates.
  const tick = setInterval(() => {
    const elapsed = Date.now() - startAt;
    if (elapsed < 0) return;
    let pending = false;
    for (const device of devices) {
      const due = Math.min(total, Math.floor((elapsed - device.first) / intervalMs) + 1);
      while (device.next < due) publish(device);
      if (device.next < total) pending = true;
    }
    if (!pending || Date.now() > endAt + 1000) {
      clearInterval(tick);
      // Messages still due when the time was up were never offered: count them, so sent + throttled = offered.
      for (const device of devices) counts.throttled += Math.max(0, total - device.next);
      void drain(progress);
    }
  }, 2);
}

async function drain(progress: NodeJS.Timeout): Promise<void> {
  const deadline = Date.now() + input.drainMs;
  while (devices.some((d) => d.inflight > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  clearInterval(progress);
  await Promise.all(devices.map((d) => d.session?.end().catch(() => undefined)));
  const rows: [number, Uint8Array][] = devices.map((d) => [d.index, d.row]);
  port.postMessage(
    {
      type: 'done',
      ...counts,
      firstSendAt,
      lastAckAt,
      ackHistogram: hdr.encodeIntoCompressedBase64(histogram),
      rows,
      ackedSeries,
      disconnectSeries,
      reconnectSeries,
      dueSeries,
    } satisfies WorkerMessage,
    rows.map(([, row]) => row.buffer as ArrayBuffer),
  );
}

port.on('message', (message: ControlMessage) => {
  if (message.type === 'go') run(message.startAt);
});
void connectAll();
