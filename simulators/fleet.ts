/**
 * A simulated fleet: N devices, each with its own credentials and MQTT connection, publishing its profile's
 * samples at a per-device rate with a start jitter, reconnecting with exponential backoff, and injecting the
 * configured faults. `createFleet(options, deps)` returns `{ start, finished, stop, stats }`.
 */
import type { DocumentFormat } from '../core/reading.js';
import { telemetryTopic } from '../core/topics.js';
import { backoffDelay, HALF_JITTER, type BackoffOptions } from '../core/retry.js';
import { createRng } from './prng.js';
import { profileForDevice, type Profile } from './profiles.js';
import { encode } from './encoders.js';
import { malformedPayload, messageFault, oversizedPayload, pickDevices, type FaultShares } from './faults.js';
import { connectMqttJsDevice, refusalCode, type ConnectFn, type DeviceConnection } from './connection.js';

export interface DeviceCredentials {
  id: string;
  secret: string;
}

export interface FleetOptions {
  /** mqtt://host:port */
  url: string;
  devices: readonly DeviceCredentials[];
  profile: Profile;
  format: DocumentFormat;
  qos: 0 | 1;
  /** Messages per second per device. */
  rate: number;
  /** Stop publishing after this many seconds; undefined = until stop(). */
  durationS?: number;
  seed: number;
  faults: FaultShares;
  /** Size of an oversized payload; must exceed the gateway's MAX_PAYLOAD_BYTES. */
  oversizedBytes: number;
  /** How far a clock-skewed device time is ahead of the real one. */
  clockSkewMs: number;
  /** Simultaneous connection attempts while the fleet comes up (the gateway hashes each first secret). */
  connectConcurrency?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  keepaliveS?: number;
}

export interface FleetDeps {
  connect?: ConnectFn;
  now?: () => number;
}

export interface FleetStats {
  devices: number;
  connected: number;
  sent: number;
  acked: number;
  errors: number;
  /** Publishes skipped because the device was offline at the time (a real device would buffer or drop). */
  skipped: number;
  refused: number;
  reconnects: number;
  abruptDisconnects: number;
  /** Readings in messages that were sent / acknowledged (fault payloads carry none). */
  readingsSent: number;
  readingsAcked: number;
  inflight: number;
  faults: { malformed: number; oversized: number; clockSkew: number };
  wrongSecretDevices: string[];
  abruptDisconnectDevices: string[];
  elapsedMs: number;
  /** Acknowledged (QoS 1) or sent (QoS 0) messages per second over the last few seconds. */
  ratePerSec: number;
}

export interface Fleet {
  /** Connects every device (at most `connectConcurrency` at a time); resolves when each has connected or been refused once. */
  start(): Promise<void>;
  /** Resolves when the duration has passed (never without one). */
  finished(): Promise<void>;
  /** Stops publishing, waits up to `drainMs` for outstanding acknowledgements, disconnects cleanly. */
  stop(drainMs?: number): Promise<FleetStats>;
  stats(): FleetStats;
}

interface DeviceState {
  index: number;
  id: string;
  password: string;
  connection?: DeviceConnection;
  sequence: number;
  attempts: number;
  timer?: NodeJS.Timeout;
  abruptAt?: number;
  abrupted: boolean;
}

export function createFleet(options: FleetOptions, deps: FleetDeps = {}): Fleet {
  const connect = deps.connect ?? connectMqttJsDevice;
  const now = deps.now ?? Date.now;
  const url = new URL(options.url);
  const host = url.hostname;
  const port = Number(url.port || 1883);
  const intervalMs = 1000 / options.rate;
  const rng = createRng(options.seed);
  const count = options.devices.length;
  const wrongSecret = pickDevices(options.seed, count, options.faults.wrongSecret, 'wrong-secret');
  const abrupt = pickDevices(options.seed, count, options.faults.abruptDisconnect, 'abrupt-disconnect');
  const reconnectBackoff: BackoffOptions = { initialMs: options.reconnectInitialMs ?? 1000, maxMs: options.reconnectMaxMs ?? 30_000, jitter: HALF_JITTER };

  const counters = {
    sent: 0, acked: 0, errors: 0, skipped: 0, refused: 0, reconnects: 0, abruptDisconnects: 0,
    readingsSent: 0, readingsAcked: 0, inflight: 0, malformed: 0, oversized: 0, clockSkew: 0,
  };
  let connectedCount = 0;
  let startedAt = 0;
  let stopping = false;
  let endAt = Infinity;
  const rateWindow: { t: number; n: number }[] = [];
  let finishResolve: (() => void) | undefined;
  const finishedPromise = new Promise<void>((resolve) => (finishResolve = resolve));
  let finishTimer: NodeJS.Timeout | undefined;

  const devices: DeviceState[] = options.devices.map((credentials, index) => ({
    index,
    id: credentials.id,
    password: wrongSecret.has(index) ? `${credentials.secret}-wrong` : credentials.secret,
    sequence: 0,
    attempts: 0,
    abrupted: false,
  }));

  async function connectDevice(device: DeviceState): Promise<void> {
    if (stopping) return;
    try {
      const connection = await connect({
        host,
        port,
        clientId: device.id,
        username: device.id,
        password: device.password,
        will: { topic: `devices/${device.id}/status`, payload: 'offline', qos: 1, retain: true },
        keepaliveS: options.keepaliveS ?? 30,
        connectTimeoutMs: 30_000,
      });
      if (stopping) {
        await connection.end();
        return;
      }
      device.connection = connection;
      device.attempts = 0;
      connectedCount++;
      // Birth message, the counterpart of the will.
      connection.publish(`devices/${device.id}/status`, 'online', 1, () => undefined, true);
      connection.onClose(() => {
        if (device.connection !== connection) return;
        device.connection = undefined;
        connectedCount--;
        if (!stopping) scheduleReconnect(device);
      });
    } catch (error) {
      if (refusalCode(error) !== undefined) counters.refused++;
      else counters.errors++;
      scheduleReconnect(device);
    }
  }

  function scheduleReconnect(device: DeviceState): void {
    if (stopping) return;
    const delay = backoffDelay(device.attempts++, reconnectBackoff, () => rng.next());
    const timer = setTimeout(() => {
      counters.reconnects++;
      void connectDevice(device);
    }, delay);
    timer.unref();
  }

  function publishNext(device: DeviceState): void {
    const sequence = device.sequence++;
    const connection = device.connection;
    if (!connection) {
      counters.skipped++;
      return;
    }
    const concrete = profileForDevice(options.profile, device.index);
    const t = now();
    const fault = messageFault(options.seed, device.index, sequence, options.faults);
    const ts = fault === 'clock-skew' ? t + options.clockSkewMs : t;
    const metrics = concrete.sample(options.seed, device.index, ts);
    let payload = encode(options.format, { deviceId: device.id, metrics, units: concrete.units, ts });
    let readings = Object.keys(metrics).length;
    if (fault === 'malformed') {
      payload = malformedPayload(payload);
      readings = 0;
      counters.malformed++;
    } else if (fault === 'oversized') {
      payload = oversizedPayload(options.oversizedBytes);
      readings = 0;
      counters.oversized++;
    } else if (fault === 'clock-skew') {
      counters.clockSkew++;
    }
    counters.sent++;
    counters.readingsSent += readings;
    counters.inflight++;
    connection.publish(telemetryTopic(device.id), payload, options.qos, (error) => {
      counters.inflight--;
      if (error) {
        counters.errors++;
        return;
      }
      counters.acked++;
      counters.readingsAcked += readings;
    });
    if (device.abruptAt !== undefined && !device.abrupted && t >= device.abruptAt) {
      device.abrupted = true;
      counters.abruptDisconnects++;
      connection.destroy();
    }
  }

  function schedule(device: DeviceState): void {
    // Start jitter: devices spread over one interval instead of publishing in lockstep.
    const first = startedAt + rng.next() * intervalMs;
    let k = 0;
    const tick = (): void => {
      if (stopping) return;
      const due = first + k * intervalMs;
      if (due >= endAt) return;
      publishNext(device);
      k++;
      device.timer = setTimeout(tick, Math.max(0, first + k * intervalMs - now()));
    };
    device.timer = setTimeout(tick, Math.max(0, first - now()));
  }

  function snapshotRate(): number {
    const t = now();
    const n = options.qos === 1 ? counters.acked : counters.sent;
    rateWindow.push({ t, n });
    while (rateWindow.length > 2 && t - rateWindow[0]!.t > 5000) rateWindow.shift();
    const oldest = rateWindow[0]!;
    return t > oldest.t ? ((n - oldest.n) * 1000) / (t - oldest.t) : 0;
  }

  return {
    async start() {
      startedAt = now();
      if (options.durationS !== undefined) {
        endAt = startedAt + options.durationS * 1000;
        finishTimer = setTimeout(() => finishResolve?.(), options.durationS * 1000);
      }
      for (const device of devices) {
        if (abrupt.has(device.index)) {
          const span = Number.isFinite(endAt) ? endAt - startedAt : 60_000;
          device.abruptAt = startedAt + span * (0.2 + 0.4 * rng.next());
        }
        schedule(device);
      }
      // Bounded parallel connects: the gateway runs scrypt on each device's first connection.
      const concurrency = options.connectConcurrency ?? 50;
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(concurrency, devices.length) }, async () => {
          while (next < devices.length) await connectDevice(devices[next++]!);
        }),
      );
    },
    finished: () => finishedPromise,
    async stop(drainMs = 10_000) {
      stopping = true;
      for (const device of devices) clearTimeout(device.timer);
      const deadline = now() + drainMs;
      while (counters.inflight > 0 && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      await Promise.all(devices.map((device) => device.connection?.end().catch(() => undefined)));
      clearTimeout(finishTimer);
      finishResolve?.();
      return this.stats();
    },
    stats() {
      return {
        devices: count,
        connected: connectedCount,
        sent: counters.sent,
        acked: counters.acked,
        errors: counters.errors,
        skipped: counters.skipped,
        refused: counters.refused,
        reconnects: counters.reconnects,
        abruptDisconnects: counters.abruptDisconnects,
        readingsSent: counters.readingsSent,
        readingsAcked: counters.readingsAcked,
        inflight: counters.inflight,
        faults: { malformed: counters.malformed, oversized: counters.oversized, clockSkew: counters.clockSkew },
        wrongSecretDevices: [...wrongSecret].sort((a, b) => a - b).map((i) => devices[i]!.id),
        abruptDisconnectDevices: [...abrupt].sort((a, b) => a - b).map((i) => devices[i]!.id),
        elapsedMs: startedAt ? now() - startedAt : 0,
        ratePerSec: snapshotRate(),
      };
    },
  };
}
