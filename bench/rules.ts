import { build } from 'hdr-histogram-js';
import mqtt, { type MqttClient } from 'mqtt';
import { createLogger } from '../core/logger.js';
import { decodeAlert } from '../core/records.js';
import type { StreamBus, StreamConsumer } from '../core/seams.js';
import { createKafkaBus } from '../core/streams/kafka.js';
import type { KafkaConnection } from '../core/streams/connection.js';
import { BENCH_METRIC } from './payload.js';

/** The device that makes the probe rule fire; registered beside the bench devices, not counted with them. */
export const RULES_PROBE_DEVICE = 'bench-rules-probe';
const PROBE_METRIC = 'probe';

/**
 * Ten rules for `sluice bench --rules`: nine over every bench device's readings that do real work on each one
 * (thresholds, sliding and tumbling windows, a rate, silence, dead-letter and login counts) without firing, and
 * a probe rule that raises and clears on every message of the probe device: the alerts it writes are timed
 * from the probe reading's publish to their arrival on the alerts topic.
 */
export function benchRulesYaml(): string {
  const all = `devices: { match: "bench-*" }`;
  const rule = (id: string, condition: string) => `  - id: ${id}\n    description: bench ${id}\n    severity: info\n    ${all}\n    condition: ${condition}\n`;
  const never = 1e15;
  return (
    'rules:\n' +
    rule('seq-high', `{ type: threshold, metrics: [${BENCH_METRIC}], above: ${never}, for: 10s }`) +
    rule('seq-low', `{ type: threshold, metrics: [${BENCH_METRIC}], below: -1, clearAt: 0 }`) +
    rule('seq-avg', `{ type: window, metric: ${BENCH_METRIC}, aggregate: avg, window: 1m, kind: sliding, above: ${never} }`) +
    rule('seq-max', `{ type: window, metric: ${BENCH_METRIC}, aggregate: max, window: 10s, kind: tumbling, above: ${never} }`) +
    rule('seq-count-high', `{ type: window, metric: ${BENCH_METRIC}, aggregate: countAbove, bound: ${never}, window: 30s, above: 5 }`) +
    rule('seq-rate', `{ type: rate, metric: ${BENCH_METRIC}, perMinute: ${never}, over: 10s }`) +
    rule('silent', `{ type: silence, after: 5m }`) +
    rule('dead-letters', `{ type: deadletters, count: 100, window: 1m }`) +
    rule('logins', `{ type: auth-failures, count: 100, window: 1m }`) +
    `  - id: probe\n    description: bench probe (fires on every probe message)\n    severity: info\n    devices: { ids: [${RULES_PROBE_DEVICE}] }\n    condition: { type: threshold, metrics: [${PROBE_METRIC}], above: 50, clearAt: 10 }\n`
  );
}

export interface RulesProbeResult {
  transitions: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/**
 * Publishes the probe device's readings (alternately 100 and 0, `rateHz` a second, its publish time as `ts`) and
 * times each alert transition it causes, from that `ts` to the transition's arrival on `{prefix}.alerts`.
 */
export async function startRulesProbe(options: { url: string; secret: string; kafka: KafkaConnection; rateHz: number }): Promise<{ measureFrom(at: number): void; stop(): Promise<RulesProbeResult> }> {
  const histogram = build();
  let transitions = 0;
  let from = Number.POSITIVE_INFINITY;
  const bus: StreamBus = createKafkaBus({ ...options.kafka, logger: createLogger('silent') });
  const consumer: StreamConsumer = bus.createConsumer({ streams: ['alerts'], from: 'latest', fetchWaitMs: 10 });
  await consumer.run(async (batch) => {
    const seenAt = Date.now();
    for (const record of batch.records) {
      const alert = decodeAlert(record);
      if (alert?.deviceId !== RULES_PROBE_DEVICE || alert.ts < from) continue;
      transitions++;
      histogram.recordValue(Math.max(0, seenAt - alert.ts));
    }
  });
  const client: MqttClient = await mqtt.connectAsync(options.url, { username: RULES_PROBE_DEVICE, password: options.secret, clientId: RULES_PROBE_DEVICE, reconnectPeriod: 1000 });
  let high = false;
  const timer = setInterval(() => {
    high = !high;
    void client.publishAsync(`devices/${RULES_PROBE_DEVICE}/telemetry`, JSON.stringify({ [PROBE_METRIC]: high ? 100 : 0, ts: Date.now() }), { qos: 1 }).catch(() => undefined);
  }, 1000 / options.rateHz);
  return {
    measureFrom: (at) => void (from = at),
    async stop() {
      clearInterval(timer);
      // The last transitions are on their way: give them a moment.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await client.endAsync();
      await consumer.close();
      await bus.close();
      return { transitions, p50Ms: transitions > 0 ? histogram.getValueAtPercentile(50) : null, p99Ms: transitions > 0 ? histogram.getValueAtPercentile(99) : null };
    },
  };
}
