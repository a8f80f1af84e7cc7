/**
 * The Apache Pulsar forward sink (docs/contracts.md §16), through the broker's WebSocket producer API
 * (`/ws/v2/producer/...` on the web service port): the Node `pulsar-client` package downloads native binaries at
 * install, which Sluice's installs cannot do, and the WebSocket API needs only `ws`.
 *
 * One message per reading: payload = the reading's JSON (the Kafka record value), key = the device id, property
 * `id` = the reading id. One producer connection carries every message of a write, in order, so each device keeps
 * its Kafka order on the topic. A write resolves once the broker acknowledged every message (persisted on the
 * bookies for a persistent topic) or refused it for good.
 *
 * Delivery is at least once: a retried write publishes again what the broker had already taken. Pulsar's own
 * deduplication cannot help here: the WebSocket producer of Pulsar 4.2 reads a message's `sequenceId` field but
 * never passes it to its producer, which numbers messages itself, so a retried message gets a new sequence id.
 * Duplicates carry the same `id` property, so a consumer counts or drops them by it.
 */
import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { ErrorCodes, sluiceError, type SluiceError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Sink, SinkRecord, SinkRefusal } from '../../core/seams.js';

export interface PulsarSinkOptions {
  /** The broker's (or proxy's) web service: `http://host:8080` or `https://…`; the WebSocket API lives there. */
  url: string;
  /** `persistent://tenant/namespace/topic` or `non-persistent://…`. */
  topic: string;
  /** Sent as `Authorization: Bearer <token>` (Pulsar's token authentication). */
  token?: string;
  maxRecords: number;
  /** How long a write waits for the broker's acknowledgements (and a connection), default and at most 30 s. */
  ackTimeoutMs?: number;
  /** The broker-side producer batches messages (default true); turned off by itself when the broker refuses a batch. */
  batching?: boolean;
}

export interface PulsarSinkDeps {
  logger: Logger;
}

/**
 * What one WebSocket text frame may hold: the broker's `webSocketMaxTextFrameSize`, 1 MiB by default. A bigger frame
 * makes the broker close the connection, which would look transient and be retried forever: refused up front instead.
 */
export const PULSAR_MAX_FRAME_BYTES = 1024 * 1024;
/** Bytes of `json` per write: with base64 (4/3) and the frames' fields, about 11 MB in flight on one connection. */
export const PULSAR_MAX_WRITE_BYTES = 8 * 1024 * 1024;
const MAX_ACK_TIMEOUT_MS = 30_000;
const PING_TIMEOUT_MS = 5_000;

export interface PulsarTopic {
  domain: 'persistent' | 'non-persistent';
  tenant: string;
  namespace: string;
  name: string;
}

/** `persistent://tenant/ns/name` (or non-persistent) into its parts; throws CONFIG_INVALID otherwise. */
export function parsePulsarTopic(topic: string): PulsarTopic {
  const match = /^(persistent|non-persistent):\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(topic);
  if (!match) {
    throw sluiceError(ErrorCodes.CONFIG_INVALID, `PULSAR_TOPIC "${topic}" is not persistent://tenant/namespace/topic (or non-persistent://…)`);
  }
  return { domain: match[1] as PulsarTopic['domain'], tenant: match[2]!, namespace: match[3]!, name: match[4]! };
}

/**
 * The producer's WebSocket address: `url` http→ws, https→wss, plus `/ws/v2/producer/{domain}/{tenant}/{ns}/{topic}`.
 * `sendTimeoutMillis` makes the broker's producer give up (and answer with an error) before the sink stops waiting.
 */
/** The broker-side producer's batching (milliseconds a batch waits, messages it holds). */
const PRODUCER_BATCH_DELAY_MS = 5;
const PRODUCER_BATCH_MESSAGES = 1000;

export function pulsarProducerUrl(url: string, topic: string, options: { sendTimeoutMs: number; batching?: boolean }): string {
  const base = new URL(url);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw sluiceError(ErrorCodes.CONFIG_INVALID, `PULSAR_URL "${url}" must be http:// or https:// (the broker's web service)`);
  }
  const { domain, tenant, namespace, name } = parsePulsarTopic(topic);
  base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  const path = [domain, tenant, namespace, name].map(encodeURIComponent).join('/');
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/ws/v2/producer/${path}`;
  // The broker's producer batches what arrives within 5 ms into one entry: each message is still acknowledged (and
  // read) on its own, in order, but the broker spends about 0.3 ms of CPU per message instead of 0.5, and a write of
  // 1,000 readings took 85–245 ms instead of 170–550 (4,400–5,600 readings/s against 3,100–3,300, 3 runs each).
  base.search = new URLSearchParams({
    sendTimeoutMillis: String(options.sendTimeoutMs),
    ...(options.batching === false
      ? {}
      : { batchingEnabled: 'true', batchingMaxMessages: String(PRODUCER_BATCH_MESSAGES), batchingMaxPublishDelay: String(PRODUCER_BATCH_DELAY_MS) }),
  }).toString();
  return base.toString();
}

/** The frame that publishes `record`: `context` comes back in its acknowledgement. */
export function producerFrame(record: SinkRecord, context: string): string {
  return JSON.stringify({ payload: record.json.toString('base64'), key: record.reading.deviceId, properties: { id: record.id }, context });
}

/** A producer acknowledgement as the broker sends it. */
export interface ProducerAck {
  /** `ok`, or `send-error:<code>` (WebSocketError: 3 unparseable JSON, 7 bad payload, 8 anything else). */
  result: string;
  messageId?: string;
  errorMsg?: string;
  context?: string;
}

/**
 * Whether a send-error is this message's own and permanent: too large for the broker's `maxMessageSize`
 * (`InvalidMessageException: … sends a … message with N bytes that exceeds M bytes`), or a frame the broker cannot
 * read (codes 3 and 7). Everything else (a timeout, a full queue, a closed producer, a fenced topic) is transient.
 */
export function isPermanentSendError(ack: ProducerAck): boolean {
  if (batchTooLarge(ack) !== undefined) return false;
  if (ack.result === 'send-error:3' || ack.result === 'send-error:7') return true;
  const message = ack.errorMsg ?? '';
  return /InvalidMessageException/.test(message) || /exceeds \d+ bytes/.test(message);
}

/**
 * The broker's `maxMessageSize` when it refused a whole producer batch (`Message size N is bigger than M bytes`): the
 * batch, not any one message in it, is too large. The WebSocket producer has no batch byte limit to lower (only its
 * default 128 KiB), so against a broker whose maxMessageSize is below that the sink produces without batching.
 */
export function batchTooLarge(ack: ProducerAck): number | undefined {
  const match = /Message size \d+ is bigger than (\d+) bytes/.exec(ack.errorMsg ?? '');
  return match ? Number(match[1]) : undefined;
}

/** A connection failure in a few words, for health() and the error message. */
export function describeConnectFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ETIMEDOUT') return 'connect timed out';
  return error instanceof Error ? error.message : String(error);
}

interface Pending {
  resolve(ack: ProducerAck): void;
}

export function createPulsarSink(options: PulsarSinkOptions, deps: PulsarSinkDeps): Sink {
  const log = deps.logger.child({ module: 'pulsar-sink' });
  const ackTimeoutMs = Math.min(options.ackTimeoutMs ?? MAX_ACK_TIMEOUT_MS, MAX_ACK_TIMEOUT_MS);
  // The broker's send timeout ends a little before the sink's wait, so a slow message comes back as a send-error.
  const sendTimeoutMs = Math.max(1_000, ackTimeoutMs - 2_000);
  /** Off for good once the broker refused a whole batch as too large (batchTooLarge). */
  let batching = options.batching ?? true;
  const healthUrl = new URL('admin/v2/brokers/health', options.url.endsWith('/') ? options.url : `${options.url}/`).toString();
  const headers: Record<string, string> = options.token ? { Authorization: `Bearer ${options.token}` } : {};

  let socket: WebSocket | undefined;
  let connecting: Promise<WebSocket> | undefined;
  let note: string | undefined = 'not connected yet';
  let closed = false;
  let nextContext = 0;
  const pending = new Map<string, Pending>();

  function failPending(reason: string): void {
    for (const [context, entry] of pending) entry.resolve({ result: 'closed', errorMsg: reason, context });
    pending.clear();
  }

  function unavailable(message: string, cause?: unknown, details?: Record<string, unknown>): SluiceError {
    return sluiceError(ErrorCodes.SINK_UNAVAILABLE, `pulsar: ${message}`, { retriable: true, cause, details });
  }

  /** Opens the producer connection; the handshake answers only once the broker created the producer. */
  function connect(): Promise<WebSocket> {
    if (socket?.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    connecting ??= new Promise<WebSocket>((resolve, reject) => {
      const producerUrl = pulsarProducerUrl(options.url, options.topic, { sendTimeoutMs, batching });
      const ws = new WebSocket(producerUrl, { headers, handshakeTimeout: Math.min(ackTimeoutMs, 10_000), perMessageDeflate: false });
      let settled = false;
      const fail = (error: SluiceError): void => {
        if (settled) return;
        settled = true;
        note = error.message.replace(/^pulsar: /, '');
        ws.terminate();
        reject(error);
      };
      ws.once('unexpected-response', (request, response: IncomingMessage) => {
        // The broker says why in the body ("Failed to create producer: …", "Namespace not found").
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body = (body + chunk).slice(0, 500)));
        const finish = (): void => {
          const status = response.statusCode ?? 0;
          const why = `producer refused (HTTP ${status}${body.trim() ? `: ${body.trim()}` : ''})`;
          if (status === 401 || status === 403) {
            fail(sluiceError(ErrorCodes.SINK_UNAUTHORIZED, `pulsar: ${why} — check PULSAR_TOKEN`, { retriable: true, details: { status } }));
          } else {
            fail(unavailable(why, undefined, { status }));
          }
          request.destroy();
        };
        response.once('end', finish);
        response.once('error', finish);
      });
      ws.on('error', (error) => fail(unavailable(describeConnectFailure(error), error)));
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        if (closed) {
          ws.close(1000);
          reject(sluiceError(ErrorCodes.CLOSED, 'pulsar sink closed'));
          return;
        }
        socket = ws;
        note = undefined;
        log.info({ topic: options.topic }, 'pulsar producer connected');
        resolve(ws);
      });
      ws.on('message', (data) => {
        let ack: ProducerAck;
        try {
          ack = JSON.parse(String(data)) as ProducerAck;
        } catch (error) {
          log.warn({ err: error }, 'pulsar: an acknowledgement that is not JSON, ignored');
          return;
        }
        const entry = ack.context === undefined ? undefined : pending.get(ack.context);
        if (!entry) return; // a write that already gave up on it
        pending.delete(ack.context!);
        entry.resolve(ack);
      });
      ws.once('close', (code, reason) => {
        const why = `connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`;
        fail(unavailable(why));
        if (socket === ws) {
          socket = undefined;
          if (!closed) {
            note = why;
            log.warn({ code, reason: reason.toString() }, 'pulsar producer connection closed; reconnecting on the next write');
          }
        }
        failPending(why);
      });
    }).finally(() => (connecting = undefined));
    return connecting;
  }

  function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  return {
    name: 'pulsar',
    limits: { maxRecords: options.maxRecords, maxBytes: PULSAR_MAX_WRITE_BYTES },

    async write(records: readonly SinkRecord[]): Promise<{ refused: SinkRefusal[] }> {
      if (closed) throw sluiceError(ErrorCodes.CLOSED, 'pulsar sink closed');
      const refused: SinkRefusal[] = [];
      const frames: ({ frame: string; context: string } | undefined)[] = records.map((record, index) => {
        const context = String(nextContext++);
        const frame = producerFrame(record, context);
        if (Buffer.byteLength(frame) <= PULSAR_MAX_FRAME_BYTES) return { frame, context };
        refused.push({
          index,
          reason: `message of ${record.json.length} bytes does not fit the broker's WebSocket frame limit (webSocketMaxTextFrameSize, ${PULSAR_MAX_FRAME_BYTES} bytes) once base64-encoded`,
        });
        return undefined;
      });
      if (frames.every((frame) => frame === undefined)) return { refused };

      const ws = await withTimeout(connect(), ackTimeoutMs, () => unavailable(`no connection within ${ackTimeoutMs} ms`));
      const contexts: string[] = [];
      const acks = frames.map((entry) => {
        if (entry === undefined) return undefined;
        const { frame, context } = entry;
        contexts.push(context);
        return new Promise<ProducerAck>((resolve) => {
          pending.set(context, { resolve });
          // A send on a socket that is closing fails here; one that fails later closes it, and its close handler
          // answers every pending message.
          ws.send(frame, (error) => {
            if (error && pending.delete(context)) resolve({ result: 'closed', errorMsg: describeConnectFailure(error), context });
          });
        });
      });

      let answers: (ProducerAck | undefined)[];
      try {
        answers = await withTimeout(Promise.all(acks), ackTimeoutMs, () => unavailable(`no acknowledgement within ${ackTimeoutMs} ms`));
      } catch (error) {
        for (const context of contexts) pending.delete(context);
        // Acks that come late belong to a write the loop retries anyway: start the retry on a fresh producer.
        if (socket === ws) {
          note = `no acknowledgement within ${ackTimeoutMs} ms`;
          ws.terminate();
        }
        throw error;
      }

      const batchLimit = batching ? answers.map((ack) => (ack ? batchTooLarge(ack) : undefined)).find((limit) => limit !== undefined) : undefined;
      if (batchLimit !== undefined) {
        // The messages of that batch were not stored, later ones of this write may have been: the loop's retry of the
        // whole write, on a producer without batching, repeats those (same id) and refuses only a message that is too
        // large by itself.
        batching = false;
        log.warn({ maxMessageSize: batchLimit }, "pulsar: the broker's maxMessageSize is below a producer batch; producing without batching from now on");
        if (socket === ws) ws.terminate();
        throw unavailable(`the broker refused a producer batch as larger than its maxMessageSize (${batchLimit} bytes); retrying without batching`, undefined, { retryAfterMs: 0 });
      }

      let failed: ProducerAck | undefined;
      let failures = 0;
      answers.forEach((ack, index) => {
        if (ack === undefined || ack.result === 'ok') return;
        if (isPermanentSendError(ack)) refused.push({ index, reason: ack.errorMsg ?? ack.result });
        else {
          failures++;
          failed ??= ack;
        }
      });
      if (failed) {
        throw unavailable(`${failures} of ${records.length} messages not acknowledged: ${failed.errorMsg ?? failed.result}`, undefined, { failed: failures });
      }
      refused.sort((a, b) => a.index - b.index);
      return { refused };
    },

    async ping(): Promise<boolean> {
      if (closed) return false;
      try {
        const response = await fetch(healthUrl, { headers, signal: AbortSignal.timeout(PING_TIMEOUT_MS) });
        await response.body?.cancel();
        // The health check needs admin rights: a producer-only token is refused there, yet the broker answers.
        return response.ok || response.status === 401 || response.status === 403;
      } catch {
        return false;
      }
    },

    health() {
      const connected = socket?.readyState === WebSocket.OPEN;
      return connected ? { connected } : { connected, note: note ?? 'not connected' };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      failPending('sink closed');
      const ws = socket;
      socket = undefined;
      note = 'closed';
      if (!ws || ws.readyState === WebSocket.CLOSED) return;
      const gone = new Promise((resolve) => ws.once('close', resolve));
      ws.close(1000);
      await withTimeout(gone, 5_000, () => new Error('close timed out')).catch(() => ws.terminate());
    },
  };
}
