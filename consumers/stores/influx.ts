import { InfluxDB, Point, HttpError, setLogger, type WriteApi } from '@influxdata/influxdb-client';
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

/**
 * measurement = metric, tag `device` (+ reading tags), field `value`, timestamp = `timeNs`, written at ns
 * precision (docs/contracts.md §5): the reading's identity, so a burst keeps every reading and a re-write of a
 * record stores the same point. A string timestamp is written as given, so no digit goes through a Number.
 */
export function readingToPoint(reading: Reading): Point {
  const point = new Point(reading.metric).tag('device', reading.deviceId).timestamp(reading.timeNs);
  for (const [name, value] of Object.entries(reading.tags ?? {})) {
    // `device` is ours: a payload tag may not overwrite the authenticated identity.
    if (name !== 'device') point.tag(name, value);
  }
  if (typeof reading.value === 'number') point.floatField('value', reading.value);
  else if (typeof reading.value === 'boolean') point.booleanField('value', reading.value);
  else point.stringField('value', reading.value);
  return point;
}

/**
 * Turns a failed write into a coded error the writer can act on:
 * - STORE_REJECTED (400, 413, 422): the store refuses these points; retrying the same request cannot help.
 * - STORE_UNAUTHORIZED (401, 403): configuration problem; retried slowly, health goes red.
 * - STORE_UNAVAILABLE (network, timeouts, 429, 5xx): retried; `retryAfterMs` from `Retry-After`, which
 *   the store sends in seconds (the client library would read it as milliseconds).
 */
export function classifyStoreError(error: unknown, points: number) {
  const status = error instanceof HttpError ? error.statusCode : undefined;
  const body = error instanceof HttpError ? storeMessage(error) : (error as Error).message;
  const retryAfterHeader = error instanceof HttpError ? error.headers?.['retry-after'] : undefined;
  const retryAfterSeconds = Number(Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader);
  const details: Record<string, unknown> = { status };
  if (Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0) details.retryAfterMs = retryAfterSeconds * 1000;
  const what = `store write of ${points} points failed${status ? ` (HTTP ${status})` : ''}: ${body}`;
  if (status === 400 || status === 413 || status === 422) {
    return sluiceError(ErrorCodes.STORE_REJECTED, what, { retriable: false, cause: error, details: { ...details, storeMessage: body } });
  }
  if (status === 401 || status === 403) {
    return sluiceError(ErrorCodes.STORE_UNAUTHORIZED, `${what} — check INFLUX_TOKEN, INFLUX_ORG and INFLUX_BUCKET`, { retriable: true, cause: error, details });
  }
  return sluiceError(ErrorCodes.STORE_UNAVAILABLE, what, { retriable: true, cause: error, details });
}

function storeMessage(error: HttpError): string {
  const json = error.json as { message?: unknown } | undefined;
  if (json && typeof json.message === 'string') return json.message;
  return (error.body ?? error.message).slice(0, 500);
}

/**
 * Writes through @influxdata/influxdb-client with its own retry buffer switched off: a failed write
 * surfaces to the writer, which keeps the Kafka offsets uncommitted and retries itself, so the client
 * library can never drop the oldest lines from a full buffer.
 */
export function createInfluxStore(options: InfluxStoreOptions): ReadingStore {
  // The library logs every failed write to the console; the writer logs outages once, with their duration.
  setLogger({ error: () => undefined, warn: () => undefined });
  const influx = new InfluxDB({ url: options.url, token: options.token, timeout: options.timeoutMs ?? 10_000 });
  // One WriteApi per batch, sized to it: the whole batch goes out in one request on close(), and a
  // failure rejects close() instead of landing in the library's retry buffer.
  const newWriteApi = (lines: number): WriteApi =>
    influx.getWriteApi(options.org, options.bucket, 'ns', {
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
        throw classifyStoreError(error, readings.length);
      }
    },
    async ping() {
      try {
        // With the token: InfluxDB 3 answers /health only to an authenticated request (InfluxDB 2 ignores it).
        const headers: Record<string, string> = options.token ? { authorization: `Token ${options.token}` } : {};
        const response = await fetch(new URL('/health', options.url), { headers, signal: AbortSignal.timeout(3000) });
        return response.ok;
      } catch {
        return false;
      }
    },
    async close() {},
  };
}
