import type { Reading } from '../../../../core/reading.js';
import { telemetryTopic } from '../../../../core/topics.js';
import {
  createNormalizeOptions,
  normalize,
  type NormalizeOptions,
  type NormalizeResult,
} from '../../../../bridge/normalize/index.js';
import { timeNsOfMs } from '../../../../core/reading.js';

/** 2024-11-25T00:00:00Z, the receive time of every fixture unless a test says otherwise. */
export const RECEIVED_AT = Date.UTC(2024, 10, 25);
export const DEVICE = 'd1';
export const BASE_TOPIC = telemetryTopic(DEVICE);

export function run(
  payload: string | Buffer,
  topic: string = BASE_TOPIC,
  options?: Partial<NormalizeOptions>,
  receivedAtNs?: bigint,
): NormalizeResult {
  return normalize(
    {
      deviceId: DEVICE,
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
      receivedAt: RECEIVED_AT,
      ...(receivedAtNs === undefined ? {} : { receivedAtNs }),
    },
    options === undefined ? undefined : createNormalizeOptions(options),
  );
}

/** The reading a fixture should produce, with the fields every reading shares filled in. */
export function reading(metric: string, value: Reading['value'], extra: Partial<Reading> = {}): Reading {
  const { unit, tags, ts, timeNs, ...rest } = extra;
  return {
    deviceId: DEVICE,
    metric,
    value,
    ...(unit === undefined ? {} : { unit }),
    ts: ts ?? RECEIVED_AT,
    timeNs: timeNs ?? timeNsOfMs(ts ?? RECEIVED_AT),
    receivedAt: RECEIVED_AT,
    ...(tags === undefined ? {} : { tags }),
    ...rest,
  };
}

/** Codes of the rejections, in order, for compact assertions. */
export function codes(result: NormalizeResult): string[] {
  return result.rejections.map((r) => r.code);
}

/** The time of the payload's i-th reading without a device time: the receive stamp plus i (docs/contracts.md §5). */
export function untimed(i: number): Pick<Reading, 'timeNs'> {
  return { timeNs: (BigInt(RECEIVED_AT) * 1_000_000n + BigInt(i)).toString() };
}
