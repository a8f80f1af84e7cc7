import {
  DescribeStreamSummaryCommand,
  KinesisClient,
  PutRecordsCommand,
  type DescribeStreamSummaryOutput,
  type PutRecordsInput,
  type PutRecordsOutput,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCodes, sluiceError, type SluiceError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { backoffDelay, HALF_JITTER, type BackoffOptions } from '../../core/retry.js';
import type { Sink, SinkRecord, SinkRefusal } from '../../core/seams.js';

/** Kinesis' own limits (PutRecords): the partition key's bytes count toward both byte limits. */
export const KINESIS_MAX_REQUEST_RECORDS = 500;
export const KINESIS_MAX_REQUEST_BYTES = 5 * 1024 * 1024;
export const KINESIS_MAX_RECORD_BYTES = 1024 * 1024;
const MAX_PARTITION_KEY_CHARS = 256;

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const PING_TIMEOUT_MS = 3_000;
/** How long one write keeps retrying records Kinesis failed one by one before it gives the write back to the loop. */
const DEFAULT_RETRY_BUDGET_MS = 20_000;
/** A hot shard (ProvisionedThroughputExceeded) needs a second to refill; other record failures clear quickly. */
const THROTTLED_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 5_000, jitter: HALF_JITTER };
const FAILED_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 2_000, jitter: HALF_JITTER };
/** The least wait the loop keeps before retrying a write the server did not answer or throttled as a whole. */
const UNAVAILABLE_RETRY_AFTER_MS = 1_000;
const MISSING_STREAM_RETRY_AFTER_MS = 10_000;

/** Per-record error codes that mean "this record is wrong", not "try again": the emulator's over-size answer among them. */
const REFUSING_ENTRY_CODES = new Set(['InvalidArgumentException', 'ValidationException']);
const AUTH_ERROR_NAMES = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'CredentialsProviderError',
]);
const THROTTLE_ERROR_NAMES = new Set(['LimitExceededException', 'ThrottlingException', 'ProvisionedThroughputExceededException', 'KMSThrottlingException']);

export interface KinesisSinkOptions {
  stream: string;
  /** An emulator or a VPC endpoint; absent: the region's public endpoint. */
  endpoint?: string;
  /** Absent: the SDK's region chain (AWS_REGION, the profile). */
  region?: string;
  /** Records per write (KINESIS_BATCH_RECORDS), at most Kinesis' 500 per PutRecords. */
  maxRecords: number;
  /** One PutRecords or DescribeStreamSummary at most this long, connecting included. */
  requestTimeoutMs?: number;
  /** How long one write retries records failed one by one before it throws (default 20 s). */
  retryBudgetMs?: number;
}

/** The two calls the sink makes: the unit tests hand in a fake whose PutRecords fails chosen entries. */
export interface KinesisSender {
  putRecords(input: PutRecordsInput, abortSignal: AbortSignal): Promise<PutRecordsOutput>;
  describeStreamSummary(stream: string, abortSignal: AbortSignal): Promise<DescribeStreamSummaryOutput>;
  destroy(): void;
}

export interface KinesisSinkDeps {
  logger: Logger;
  /** Absent: a KinesisClient built from the options. */
  client?: KinesisSender;
}

/** A record of the write still to be put: its place in the write, partition key, data and size as Kinesis counts it. */
export interface PendingRecord {
  index: number;
  key: string;
  data: Buffer;
  /** Data plus partition key bytes. */
  size: number;
}

/**
 * The records of the next PutRecords: the oldest pending record of each device, in Kafka order, up to the request
 * limits. At most one record per partition key, because PutRecords keeps going after a failed entry (AWS documents
 * that it "doesn't guarantee the ordering of records"): a device's record j can land only after its record i was
 * acknowledged, whatever fails. A device whose oldest record does not fit this request sends nothing in it, so its
 * later records cannot slip ahead either. `pending` is in write order.
 */
export function planRequest(pending: readonly PendingRecord[], limits: { maxRecords: number; maxBytes: number }): PendingRecord[] {
  const devices = new Set<string>();
  const chosen: PendingRecord[] = [];
  let bytes = 0;
  for (const record of pending) {
    if (chosen.length >= limits.maxRecords) break;
    if (devices.has(record.key)) continue;
    devices.add(record.key);
    if (bytes + record.size > limits.maxBytes) continue;
    chosen.push(record);
    bytes += record.size;
  }
  return chosen;
}

/** What one PutRecords result entry means for its record. */
export type EntryOutcome =
  | { kind: 'acknowledged' }
  | { kind: 'retry'; throttled: boolean; why: string }
  | { kind: 'refused'; reason: string };

/**
 * Kinesis' per-record codes are ProvisionedThroughputExceededException, InternalFailure and the KMS* ones, all
 * worth retrying (a KMS key being re-enabled, KMS throttling). A code we do not know is retried too: dead-lettering
 * a reading for a transient code we never saw would lose it, retrying costs at most the write's retry budget.
 */
export function entryOutcome(entry: PutRecordsResultEntry | undefined): EntryOutcome {
  if (entry === undefined) return { kind: 'retry', throttled: false, why: 'no result for the record' };
  if (entry.ErrorCode === undefined) return { kind: 'acknowledged' };
  const why = `${entry.ErrorCode}: ${entry.ErrorMessage ?? 'no message'}`;
  if (REFUSING_ENTRY_CODES.has(entry.ErrorCode)) return { kind: 'refused', reason: `Kinesis refused the record: ${why}` };
  return { kind: 'retry', throttled: entry.ErrorCode === 'ProvisionedThroughputExceededException' || entry.ErrorCode === 'KMSThrottlingException', why };
}

/**
 * Splits a write into what Kinesis can never take (refused up front, with the reason) and what to put. A record
 * over 1 MiB would make real Kinesis refuse the whole request (ValidationException), so it never leaves here.
 */
export function admitRecords(records: readonly SinkRecord[]): { pending: PendingRecord[]; refused: SinkRefusal[] } {
  const pending: PendingRecord[] = [];
  const refused: SinkRefusal[] = [];
  records.forEach((record, index) => {
    const key = record.reading.deviceId;
    const size = record.json.length + Buffer.byteLength(key, 'utf8');
    if (key.length === 0 || key.length > MAX_PARTITION_KEY_CHARS) {
      refused.push({ index, reason: `the device id is not a Kinesis partition key (1 to ${MAX_PARTITION_KEY_CHARS} characters)` });
    } else if (size > KINESIS_MAX_RECORD_BYTES) {
      refused.push({ index, reason: `${size} bytes (data and partition key) are larger than Kinesis' 1 MiB record limit` });
    } else {
      pending.push({ index, key, data: record.json, size });
    }
  });
  return { pending, refused };
}

/** Node's and the SDK's words for a request that got no answer, in words for the pipeline view. */
export function networkNote(error: unknown, timeoutMs: number): string | undefined {
  const codes: string[] = [];
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    const { code, name } = cause as { code?: unknown; name: string };
    if (typeof code === 'string') codes.push(code);
    codes.push(name);
    if (cause instanceof AggregateError) for (const inner of cause.errors as unknown[]) codes.push(String((inner as { code?: unknown }).code));
  }
  if (codes.includes('ECONNREFUSED')) return 'connection refused';
  if (codes.includes('ECONNRESET') || codes.includes('EPIPE')) return 'connection reset';
  if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN')) return 'endpoint host not found';
  if (codes.some((code) => ['ETIMEDOUT', 'TimeoutError', 'AbortError', 'RequestTimeout', 'ECONNABORTED'].includes(code))) {
    return `no answer within ${timeoutMs} ms`;
  }
  if (codes.some((code) => code.startsWith('ERR_SSL') || code.startsWith('CERT_') || code === 'EPROTO')) return 'TLS handshake failed';
  return undefined;
}

/**
 * A whole request that failed, as the loop acts on it: refused credentials SINK_UNAUTHORIZED (retried slowly,
 * readiness red); everything else SINK_UNAVAILABLE, retried after `retryAfterMs`. `note` is what health says.
 */
export function classifyRequestError(
  error: unknown,
  context: { stream: string; timeoutMs: number },
): { error: SluiceError; connected: boolean; note: string } {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (name === 'ResourceNotFoundException') {
    const note = `stream "${context.stream}" does not exist`;
    return {
      error: sluiceError(ErrorCodes.SINK_UNAVAILABLE, `Kinesis: ${note} (create it, or set KINESIS_STREAM): ${message}`, {
        retriable: true,
        cause: error,
        details: { retryAfterMs: MISSING_STREAM_RETRY_AFTER_MS },
      }),
      connected: true,
      note,
    };
  }
  if (AUTH_ERROR_NAMES.has(name) || status === 401 || status === 403) {
    return {
      error: sluiceError(ErrorCodes.SINK_UNAUTHORIZED, `Kinesis refused the credentials (${name}): ${message}`, { cause: error }),
      connected: name !== 'CredentialsProviderError',
      note: name === 'CredentialsProviderError' ? 'no AWS credentials found' : `credentials refused (${name})`,
    };
  }
  const network = networkNote(error, context.timeoutMs);
  const throttled = THROTTLE_ERROR_NAMES.has(name) || status === 429;
  const note = network ?? (throttled ? `throttled (${name})` : status !== undefined ? `HTTP ${status} (${name})` : `${name}: ${message}`);
  return {
    error: sluiceError(ErrorCodes.SINK_UNAVAILABLE, `Kinesis PutRecords failed: ${note}`, {
      retriable: true,
      cause: error,
      details: { retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS },
    }),
    connected: network === undefined,
    note,
  };
}

/**
 * Forwards readings to a Kinesis stream (docs/contracts.md §16): one record per reading, partition key = device id,
 * data = the reading's JSON as it is in Kafka. Kinesis has no message id, so delivery is at least once and a consumer
 * drops a duplicate by the reading id it computes from the data (readingIdOf, core/records.ts).
 */
export function createKinesisSink(options: KinesisSinkOptions, deps: KinesisSinkDeps): Sink {
  const log = deps.logger.child({ module: 'sink-kinesis' });
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const retryBudgetMs = options.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;
  const client = deps.client ?? createClient(options, requestTimeoutMs);
  const closing = new AbortController();
  let closed = false;
  let health: { connected: boolean; note?: string } = { connected: false, note: 'no request yet' };

  /**
   * One request, bounded whatever the SDK does (credential lookups included): the abort cancels the HTTP request,
   * the race makes sure the caller hears back. The SDK's own retries are off (maxAttempts 1): the loop and the
   * per-record retries below decide, so a server that is down fails the write in one request's time.
   */
  async function bounded<T>(timeoutMs: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeout = new AbortController();
    const signal = AbortSignal.any([timeout.signal, closing.signal]);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`no answer within ${timeoutMs} ms`);
        error.name = 'TimeoutError';
        timeout.abort(error);
        reject(error);
      }, timeoutMs);
    });
    try {
      return await Promise.race([call(signal), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  function assertOpen(): void {
    if (closed) throw sluiceError(ErrorCodes.CLOSED, 'the Kinesis sink is closed');
  }

  async function put(batch: readonly PendingRecord[]): Promise<PutRecordsResultEntry[]> {
    let output: PutRecordsOutput;
    try {
      output = await bounded(requestTimeoutMs, (abortSignal) =>
        client.putRecords({ StreamName: options.stream, Records: batch.map((record) => ({ PartitionKey: record.key, Data: record.data })) }, abortSignal),
      );
    } catch (error) {
      assertOpen();
      const classified = classifyRequestError(error, { stream: options.stream, timeoutMs: requestTimeoutMs });
      health = { connected: classified.connected, note: classified.note };
      throw classified.error;
    }
    health = { connected: true };
    const entries = output.Records ?? [];
    if (entries.length !== batch.length) {
      throw sluiceError(ErrorCodes.SINK_UNAVAILABLE, `Kinesis answered ${entries.length} results for ${batch.length} records`, {
        retriable: true,
        details: { retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS },
      });
    }
    return entries;
  }

  return {
    name: 'kinesis',
    limits: { maxRecords: Math.min(options.maxRecords, KINESIS_MAX_REQUEST_RECORDS), maxBytes: KINESIS_MAX_REQUEST_BYTES },

    async write(records) {
      assertOpen();
      const admitted = admitRecords(records);
      const refused = admitted.refused;
      let pending = admitted.pending;
      let retries = 0;
      let giveUpAt: number | undefined;
      while (pending.length > 0) {
        assertOpen();
        const batch = planRequest(pending, { maxRecords: KINESIS_MAX_REQUEST_RECORDS, maxBytes: KINESIS_MAX_REQUEST_BYTES });
        const entries = await put(batch);
        const settled = new Set<number>();
        let failed = 0;
        let throttled = false;
        let lastWhy = '';
        batch.forEach((record, k) => {
          const outcome = entryOutcome(entries[k]);
          if (outcome.kind === 'retry') {
            failed++;
            throttled ||= outcome.throttled;
            lastWhy = outcome.why;
            return;
          }
          if (outcome.kind === 'refused') refused.push({ index: record.index, reason: outcome.reason });
          settled.add(record.index);
        });
        pending = pending.filter((record) => !settled.has(record.index));
        if (failed === 0) continue;
        // One budget per write, from its first failed record: the write is bounded however the failures come.
        giveUpAt ??= Date.now() + retryBudgetMs;
        const wait = backoffDelay(retries++, throttled ? THROTTLED_BACKOFF : FAILED_BACKOFF);
        if (Date.now() + wait > giveUpAt) {
          throw sluiceError(
            ErrorCodes.SINK_UNAVAILABLE,
            `Kinesis still failed ${failed} of ${batch.length} records after ${retryBudgetMs} ms of retries (${lastWhy}); ${pending.length} records of the write undelivered`,
            { retriable: true, details: { retryAfterMs: throttled ? THROTTLED_BACKOFF.maxMs : UNAVAILABLE_RETRY_AFTER_MS } },
          );
        }
        log.debug({ failed, records: batch.length, why: lastWhy, waitMs: Math.round(wait) }, 'Kinesis failed records, retrying them');
        try {
          await delay(wait, undefined, { signal: closing.signal });
        } catch {
          assertOpen();
        }
      }
      refused.sort((a, b) => a.index - b.index);
      return { refused };
    },

    async ping() {
      if (closed) return false;
      try {
        const output = await bounded(PING_TIMEOUT_MS, (abortSignal) => client.describeStreamSummary(options.stream, abortSignal));
        const status = output.StreamDescriptionSummary?.StreamStatus;
        // UPDATING (resharding) still takes records; CREATING and DELETING do not.
        const usable = status === 'ACTIVE' || status === 'UPDATING';
        health = usable ? { connected: true } : { connected: true, note: `stream "${options.stream}" is ${status ?? 'in an unknown state'}` };
        return usable;
      } catch (error) {
        if (closed) return false;
        const classified = classifyRequestError(error, { stream: options.stream, timeoutMs: PING_TIMEOUT_MS });
        health = { connected: classified.connected, note: classified.note };
        log.debug({ err: error }, 'Kinesis ping failed');
        return false;
      }
    },

    health: () => health,

    async close() {
      if (closed) return;
      closed = true;
      health = { connected: false, note: 'closed' };
      closing.abort(sluiceError(ErrorCodes.CLOSED, 'the Kinesis sink is closed'));
      client.destroy();
    },
  };
}

/**
 * The SDK's HTTP/1.1 handler, endpoint or not: PutRecords and DescribeStreamSummary are plain request/response calls
 * (HTTP/2 serves only SubscribeToShard, which a producer never calls), emulators speak HTTP/1.1 only, and this
 * handler bounds connecting and answering. Keep-alive so consecutive PutRecords reuse their connections.
 */
function createClient(options: KinesisSinkOptions, requestTimeoutMs: number): KinesisSender {
  const client = new KinesisClient({
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: Math.min(requestTimeoutMs, 5_000),
      requestTimeout: requestTimeoutMs,
      throwOnRequestTimeout: true,
      httpAgent: { keepAlive: true, maxSockets: 16 },
      httpsAgent: { keepAlive: true, maxSockets: 16 },
    }),
  });
  return {
    putRecords: (input, abortSignal) => client.send(new PutRecordsCommand(input), { abortSignal }),
    describeStreamSummary: (stream, abortSignal) => client.send(new DescribeStreamSummaryCommand({ StreamName: stream }), { abortSignal }),
    destroy: () => client.destroy(),
  };
}
