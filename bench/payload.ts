/**
 * Bench messages: ~100-byte JSON carrying one reading, `bench_seq`, whose value identifies the message
 * (device index × 1,000,000 + message number), so what is stored can be matched against what was acknowledged.
 * The device time `ts` is the publish time, strictly increasing per device, so latencies can be read off it
 * and no two messages of a device share a timestamp.
 */
export const BENCH_METRIC = 'bench_seq';
/** Series name in the InfluxDB-compatible store (`{measurement}_{field}`). */
export const BENCH_SERIES = `${BENCH_METRIC}_value`;
export const MESSAGES_PER_DEVICE_LIMIT = 1_000_000;

export function sequenceValue(deviceIndex: number, message: number): number {
  return deviceIndex * MESSAGES_PER_DEVICE_LIMIT + message;
}

export function decodeSequence(value: number): { deviceIndex: number; message: number } {
  return { deviceIndex: Math.floor(value / MESSAGES_PER_DEVICE_LIMIT), message: value % MESSAGES_PER_DEVICE_LIMIT };
}

export function benchDeviceId(index: number): string {
  return `bench-${String(index).padStart(5, '0')}`;
}

/** The payload, padded with a constant tag to about `targetBytes`. */
export function benchPayload(runId: string, value: number, ts: number, targetBytes = 100): string {
  const bare = `{"${BENCH_METRIC}":${value},"ts":${ts},"tags":{"run":"${runId}","pad":""}}`;
  const pad = 'x'.repeat(Math.max(1, targetBytes - bare.length));
  return `{"${BENCH_METRIC}":${value},"ts":${ts},"tags":{"run":"${runId}","pad":"${pad}"}}`;
}
