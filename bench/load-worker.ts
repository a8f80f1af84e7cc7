/**
 * One load-generating worker thread of `sluice bench`: holds its share of the devices (lean MQTT client, one
 * connection each), publishes on an open-loop schedule (a message is due at start + jitter + k / rate whether or
 * not earlier ones were acknowledged, so a slow pipeline shows up as latency, not as a lower offered rate), and
 * records publish → PUBACK latency in an HDR histogram. The main thread only aggregates, so publishing never
 * waits on the store polling or the socket.io client.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { connectLean, ConnackError, type LeanClient } from '../simulators/lean-mqtt.js';
import { benchPayload, sequenceValue } from './payload.js';

export interface WorkerInput {
  host: string;
  port: number;
  devices: { index: number; id: string; secret: string }[];
  rate: number;
  durationS: number;
  qos: 0 | 1;
  runId: string;
  payloadBytes: number;
  /** Topic per device; `{id}` is replaced. */
  topicPattern: string;
  messagesPerDevice: number;
  connectConcurrency: number;
  /** Past this many unacknowledged messages a device skips its due publishes (counted as `throttled`). */
  maxInflightPerDevice: number;
  drainMs: number;
  /** Connect without credentials (a broker that allows anonymous clients). */
  anonymous?: boolean;
  /** Messages sent in this first part of the load are counted but left out of the latency histogram. */
  warmupMs?: number;
}

export type WorkerMessage =
  | { type: 'connected'; connected: number; refused: number; failed: number }
  | { type: 'progress'; sent: number; acked: number; errors: number; throttled: number }
  | {
      type: 'done';
      sent: number;
      acked: number;
      errors: number;
      throttled: number;
      firstSendAt: number;
      lastAckAt: number;
      ackHistogram: string;
      rows: [number, Uint8Array][];
    };

export type ControlMessage = { type: 'go'; startAt: number };

const input = workerData as WorkerInput;
const port = parentPort!;

interface Device {
  index: number;
  id: string;
  secret: string;
  topic: string;
  client?: LeanClient;
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
  topic: input.topicPattern.replace('{id}', d.id),
  // Start jitter spread evenly over one interval, so the devices do not publish in lockstep.
  first: ((i + 0.5) / input.devices.length) * (1000 / input.rate),
  next: 0,
  lastTs: 0,
  inflight: 0,
  row: new Uint8Array(input.messagesPerDevice),
}));

const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
let sent = 0;
let acked = 0;
let errors = 0;
let throttled = 0;
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
            device.client = await connectLean({
              host: input.host,
              port: input.port,
              clientId: device.id,
              ...(input.anonymous ? {} : { username: device.id, password: device.secret }),
              keepaliveS: 60,
              connectTimeoutMs: 120_000,
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
  port.postMessage({ type: 'connected', connected: devices.filter((d) => d.client).length, refused, failed } satisfies WorkerMessage);
}

function publish(device: Device): void {
  const client = device.client;
  const message = device.next++;
  if (!client || client.closed || message >= device.row.length) {
    errors++;
    return;
  }
  if (device.inflight >= input.maxInflightPerDevice) {
    throttled++;
    return;
  }
  const now = Date.now();
  const ts = now > device.lastTs ? now : device.lastTs + 1;
  device.lastTs = ts;
  const payload = benchPayload(input.runId, sequenceValue(device.index, message), ts, input.payloadBytes);
  const started = performance.now();
  if (firstSendAt === 0) firstSendAt = now;
  sent++;
  device.inflight++;
  client.publish(device.topic, payload, input.qos, (error) => {
    device.inflight--;
    if (error) {
      errors++;
      return;
    }
    acked++;
    lastAckAt = Date.now();
    device.row[message] = 1;
    if (now >= measureFrom) histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
  });
}

function run(startAt: number): void {
  measureFrom = startAt + (input.warmupMs ?? 0);
  const intervalMs = 1000 / input.rate;
  const total = Math.min(input.messagesPerDevice, Math.floor(input.durationS * input.rate));
  const endAt = startAt + input.durationS * 1000;
  const progress = setInterval(() => port.postMessage({ type: 'progress', sent, acked, errors, throttled } satisfies WorkerMessage), 500);
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
      for (const device of devices) throttled += Math.max(0, total - device.next);
      void drain(progress);
    }
  }, 2);
}

async function drain(progress: NodeJS.Timeout): Promise<void> {
  const deadline = Date.now() + input.drainMs;
  while (devices.some((d) => d.inflight > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  clearInterval(progress);
  await Promise.all(devices.map((d) => d.client?.end().catch(() => undefined)));
  const rows: [number, Uint8Array][] = devices.map((d) => [d.index, d.row]);
  port.postMessage(
    {
      type: 'done',
      sent,
      acked,
      errors,
      throttled,
      firstSendAt,
      lastAckAt,
      ackHistogram: hdr.encodeIntoCompressedBase64(histogram),
      rows,
    } satisfies WorkerMessage,
    rows.map(([, row]) => row.buffer as ArrayBuffer),
  );
}

port.on('message', (message: ControlMessage) => {
  if (message.type === 'go') run(message.startAt);
});
void connectAll();
