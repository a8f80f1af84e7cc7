/**
 * A registered device that keeps publishing QoS 1 telemetry with its real secret while the fuzz runs: the
 * gateway under attack must keep serving it. Its PUBACKs are the measure — latency, and the longest time
 * without one (a stall).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { telemetryTopic } from '../../core/topics.js';

export interface GoodDeviceOptions {
  url: string;
  deviceId: string;
  secret: string;
  /** QoS 1 messages per second. */
  ratePerS: number;
  connectTimeoutMs?: number;
}

export interface GoodDeviceFigures {
  windowMs: number;
  sent: number;
  acked: number;
  failed: number;
  /** Sent but not acknowledged yet. */
  pending: number;
  /** Times the gateway dropped the device's connection (mqtt.js reconnects and resends). */
  disconnects: number;
  ackP50Ms: number | null;
  ackP99Ms: number | null;
  ackMaxMs: number | null;
  /** Longest time without a PUBACK, counting the time since the last one. */
  maxGapMs: number;
  acksPerS: number;
}

export interface GoodDevice {
  /** Starts the QoS 1 stream; figures count from here. */
  start(): void;
  figures(): GoodDeviceFigures;
  /** Stops the stream and waits (at most `drainMs`) for the PUBACKs still due. */
  stop(drainMs?: number): Promise<GoodDeviceFigures>;
  /** One more QoS 1 message outside the stream (markers, dead-letter probes); resolves on its PUBACK. */
  publish(payload: string, suffix?: string): Promise<void>;
  /** Clean DISCONNECT. */
  close(): Promise<void>;
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function connectGoodDevice(options: GoodDeviceOptions): Promise<GoodDevice> {
  const client: MqttClient = await mqtt.connectAsync(options.url, {
    protocolVersion: 4,
    clientId: options.deviceId,
    username: options.deviceId,
    password: options.secret,
    clean: true,
    keepalive: 30,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // Reconnects and resends on its own: a dropped connection shows as a disconnect and a PUBACK gap, not an end.
    reconnectPeriod: 1000,
  });
  const topic = telemetryTopic(options.deviceId);
  const latencies: number[] = [];
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let disconnects = 0;
  let startedAt = 0;
  let stoppedAt: number | undefined;
  let lastAckAt = 0;
  let maxGapMs = 0;
  let timer: NodeJS.Timeout | undefined;
  const drained = new Set<() => void>();
  client.on('close', () => {
    if (startedAt > 0 && stoppedAt === undefined) disconnects++;
  });
  // mqtt.js emits 'error' for refused reconnects; without a listener it would throw.
  client.on('error', () => undefined);

  const settle = (): void => {
    if (acked + failed < sent) return;
    for (const done of drained) done();
    drained.clear();
  };

  function send(): void {
    const sentAt = performance.now();
    sent++;
    client.publish(topic, JSON.stringify({ fuzz_good: sent }), { qos: 1 }, (error) => {
      if (error) {
        failed++;
      } else {
        const now = Date.now();
        acked++;
        latencies.push(performance.now() - sentAt);
        if (stoppedAt === undefined) maxGapMs = Math.max(maxGapMs, now - lastAckAt);
        lastAckAt = now;
      }
      settle();
    });
  }

  function figures(): GoodDeviceFigures {
    const end = stoppedAt ?? Date.now();
    const sorted = [...latencies].sort((a, b) => a - b);
    const windowMs = startedAt === 0 ? 0 : end - startedAt;
    return {
      windowMs,
      sent,
      acked,
      failed,
      pending: sent - acked - failed,
      disconnects,
      ackP50Ms: percentile(sorted, 50),
      ackP99Ms: percentile(sorted, 99),
      ackMaxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : null,
      maxGapMs: startedAt === 0 ? 0 : Math.max(maxGapMs, end - Math.min(end, lastAckAt)),
      acksPerS: windowMs > 0 ? acked / (windowMs / 1000) : 0,
    };
  }

  return {
    start() {
      startedAt = Date.now();
      lastAckAt = startedAt;
      send();
      timer = setInterval(send, 1000 / options.ratePerS);
    },
    figures,
    async stop(drainMs = 10_000) {
      clearInterval(timer);
      stoppedAt = Date.now();
      // The gap up to the stop counts; waiting for the last PUBACKs after it does not.
      maxGapMs = Math.max(maxGapMs, stoppedAt - lastAckAt);
      if (acked + failed < sent) {
        let wake: (() => void) | undefined;
        const deadline = setTimeout(() => wake?.(), drainMs);
        await new Promise<void>((resolve) => {
          wake = resolve;
          drained.add(resolve);
        });
        clearTimeout(deadline);
      }
      return figures();
    },
    async publish(payload, suffix) {
      await client.publishAsync(suffix ? `${topic}/${suffix}` : topic, payload, { qos: 1 });
    },
    async close() {
      clearInterval(timer);
      await client.endAsync();
    },
  };
}
