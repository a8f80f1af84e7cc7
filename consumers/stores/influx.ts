import { InfluxDB, Point, HttpError, type WriteApi } from '@influxdata/influxdb-client';
import type { Reading } from '../../core/reading.js';
import type { ReadingStore } from '../../core/seams.js';
import { sluiceError, ErrorCodes } from '../../core/errors.js';

export interface InfluxStoreOptions {
  url: string;
  token: string;
  org: string;
  bucket: string;
  timeoutMs?: number;
}

/** measurement = metric, tag `device` (+ reading tags), field `value`, timestamp = ts in ms (DESIGN §2). */
export function readingToPoint(reading: Reading): Point {
  const point = new Point(reading.metric).tag('device', reading.deviceId).timestamp(reading.ts);
  for (const [name, value] of Object.entries(reading.tags ?? {})) {
    // `device` is ours: a payload tag may not overwrite the authenticated identity.
    if (name !== 'device') point.tag(name, value);
  }
  if (typeof reading.value === 'number') point.floatField('value', reading.value);
  else if (typeof reading.value === 'boolean') point.booleanField('value', reading.value);
  else point.stringField('value', reading.value);
  if (reading.unit) point.tag('unit', reading.unit);
  return point;
}

/**
 * Writes through @influxdata/influxdb-client with its own retry buffer switched off: a failed write
 * surfaces to the writer, which keeps the Kafka offsets uncommitted and retries itself, so the client
 * library can never drop the oldest lines from a full buffer.
 */
export function createInfluxStore(options: InfluxStoreOptions): ReadingStore {
  const influx = new InfluxDB({ url: options.url, token: options.token, timeout: options.timeoutMs ?? 10_000 });
  // One WriteApi per batch, sized to it: the whole batch goes out in one request on close(), and a
  // failure rejects close() instead of landing in the library's retry buffer.
  const newWriteApi = (lines: number): WriteApi =>
    influx.getWriteApi(options.org, options.bucket, 'ms', {
      maxRetries: 0,
      maxBufferLines: lines + 1,
      batchSize: lines + 1,
      flushInterval: 0,
    });

  return {
    kind: 'influx',
    async write(readings) {
      if (readings.length === 0) return;
      const writeApi = newWriteApi(readings.length);
      writeApi.writePoints(readings.map(readingToPoint));
      try {
        await writeApi.close();
      } catch (error) {
        const status = error instanceof HttpError ? error.statusCode : undefined;
        const rejected = status === 400 || status === 422;
        throw sluiceError(
          rejected ? ErrorCodes.STORE_REJECTED : ErrorCodes.STORE_UNAVAILABLE,
          `store write of ${readings.length} points failed${status ? ` (HTTP ${status})` : ''}: ${(error as Error).message}`,
          { retriable: !rejected, cause: error, details: { status } },
        );
      }
    },
    async ping() {
      try {
        const response = await fetch(new URL('/health', options.url), { signal: AbortSignal.timeout(3000) });
        return response.ok;
      } catch {
        return false;
      }
    },
    async close() {},
  };
}
