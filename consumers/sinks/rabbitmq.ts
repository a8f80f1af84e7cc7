/**
 * The RabbitMQ forward sink (docs/contracts.md §16): one persistent message per reading, published to a durable
 * topic exchange on a confirm channel. A write resolves once RabbitMQ confirmed every message it did not refuse, so
 * the sink loop commits Kafka offsets only behind RabbitMQ's confirms: at least once, a redelivery carrying the same
 * `message-id` (the reading id) as the first delivery.
 */
import { createHash } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type Message, type Options } from 'amqplib';
import { ErrorCodes, sluiceError, type SluiceError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Sink, SinkRecord, SinkRefusal } from '../../core/seams.js';

export interface RabbitmqSinkOptions {
  /** amqp://user:password@host:port/vhost; a `heartbeat` query parameter is added (15 s) when absent. */
  url: string;
  /** A durable topic exchange, declared when missing. */
  exchange: string;
  /** A durable queue of `queueType`, declared when missing and bound to the exchange with `#`; absent: none. */
  queue?: string;
  queueType: 'classic' | 'quorum' | 'stream';
  maxRecords: number;
  /** Bounds one write: connecting, publishing and waiting for every confirm. Default 30 s. */
  confirmTimeoutMs?: number;
}

export interface RabbitmqSinkDeps {
  logger: Logger;
}

/** AMQP 0-9-1 carries a routing key as a short string: 255 bytes at most. */
export const ROUTING_KEY_MAX_BYTES = 255;
/** What one write may hold in bytes: every body is in memory until its confirm. */
export const RABBITMQ_MAX_WRITE_BYTES = 16 * 1024 * 1024;
const DEFAULT_CONFIRM_TIMEOUT_MS = 30_000;
/** A connect never takes longer than this, whatever is left of a write's time. */
const CONNECT_TIMEOUT_MS = 10_000;
const PING_TIMEOUT_MS = 5_000;
const CLOSE_TIMEOUT_MS = 5_000;
/** A resource alarm lasts until an operator frees memory or disk: no point retrying at once. */
const BLOCKED_RETRY_AFTER_MS = 5_000;
/** Rounds of one write that learn the server's max message size and publish the rest again. */
const MAX_SIZE_ROUNDS = 3;
/** The hash that ends a shortened routing-key word: `~` and 16 hex digits. */
const SHORTENED_HASH_CHARS = 17;
/** A metric word is never shortened below this while the device word is long (the device word goes first). */
const METRIC_WORD_MIN = 64;

/**
 * One routing-key word: the bytes of `text` (UTF-8), printable ASCII kept, except the characters that mean
 * something in a routing key or a binding (`.` separates words, `*` and `#` are wildcards in bindings) and the
 * two this escape itself uses (`%`, and `~`, which marks a shortened word): those, space and every byte outside
 * printable ASCII become `%XX` (upper-case hex). So a dot in a device id never makes an extra word, and
 * `dev.1` is bound as `dev%2E1.*`.
 */
export function escapeRoutingWord(text: string): string {
  let word = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const kept = byte > 0x20 && byte < 0x7f && byte !== 0x2e && byte !== 0x25 && byte !== 0x2a && byte !== 0x23 && byte !== 0x7e;
    word += kept ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return word;
}

/** The text of an escaped word (the inverse of escapeRoutingWord); a shortened word keeps its `~hash` end. */
export function unescapeRoutingWord(word: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < word.length; i++) {
    const hex = word[i] === '%' ? word.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(word.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * `{device}.{metric}`, each word escaped (escapeRoutingWord): bind `dev%2E1.*` for one device, `*.temperature` for
 * one metric. An escaped key is ASCII, so its length is its size in bytes. When it would pass AMQP's 255 bytes
 * (a long metric, or a device id full of dots), the metric word is cut first (to what the device word leaves, at
 * least 64 bytes), then the device word, each cut word ending in `~` and 16 hex digits of the SHA-256 of the whole
 * word: still one word each, still distinct, never refused. The `device-id` and `metric` headers always carry the
 * whole names.
 */
export function routingKeyOf(deviceId: string, metric: string): string {
  let device = escapeRoutingWord(deviceId);
  let metricWord = escapeRoutingWord(metric);
  if (device.length + 1 + metricWord.length <= ROUTING_KEY_MAX_BYTES) return `${device}.${metricWord}`;
  const metricBudget = Math.max(METRIC_WORD_MIN, ROUTING_KEY_MAX_BYTES - 1 - device.length);
  if (metricWord.length > metricBudget) metricWord = shortenWord(metricWord, metric, metricBudget);
  if (device.length + 1 + metricWord.length > ROUTING_KEY_MAX_BYTES) {
    device = shortenWord(device, deviceId, ROUTING_KEY_MAX_BYTES - 1 - metricWord.length);
  }
  return `${device}.${metricWord}`;
}

function shortenWord(word: string, text: string, budget: number): string {
  const hash = `~${createHash('sha256').update(text, 'utf8').digest('hex').slice(0, SHORTENED_HASH_CHARS - 1)}`;
  let cut = word.slice(0, budget - hash.length);
  // Never end inside a %XX escape: the cut word must still unescape.
  const percent = cut.lastIndexOf('%');
  if (percent !== -1 && percent > cut.length - 3) cut = cut.slice(0, percent);
  return cut + hash;
}

/** The AMQP properties of a reading's message (docs/contracts.md §16). */
export function publishOptionsOf(record: SinkRecord): Options.Publish {
  return {
    persistent: true, // delivery mode 2: written to disk before the confirm
    mandatory: true, // an unroutable message comes back (basic.return) instead of vanishing
    contentType: 'application/json',
    messageId: record.id,
    // AMQP timestamps are whole seconds.
    timestamp: Math.floor(record.reading.receivedAt / 1000),
    appId: 'sluice',
    headers: { 'device-id': record.reading.deviceId, metric: record.reading.metric },
  };
}

/**
 * The server's max message size from the reason it closed a channel with, e.g. `PRECONDITION_FAILED - message
 * size 2000 is larger than configured max size 1024`; undefined for any other reason.
 */
export function maxSizeFromCloseReason(reason: string): number | undefined {
  const match = /message size \d+ is larger than configured max size (\d+)/.exec(reason);
  return match ? Number(match[1]) : undefined;
}

/** What a connection or channel failure is, in a few words for health() and the thrown error. */
export function describeAmqpFailure(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${message})`;
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(message)) return `timed out (${message})`;
  if (isAuthFailure(error)) return `credentials refused (${message})`;
  return message;
}

/** Refused credentials (403 ACCESS_REFUSED, at login or on a declaration) or a vhost the user may not open (530). */
export function isAuthFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return code === 403 || /ACCESS[-_]REFUSED/.test(message) || /NOT[-_]ALLOWED - (access to )?vhost/.test(message);
}

interface Link {
  model: ChannelModel;
  channel?: ConfirmChannel;
  /** Why the channel closed, when the server closed it. */
  channelError?: Error;
  /** The server's resource alarm while it blocks our publishes. */
  blocked?: string;
  /** Why we dropped it ourselves: what health() says after its close. */
  abandoned?: string;
}

/** Per write: which records a basic.return names (the message id) and what was refused. */
interface Round {
  byId: Map<string, number[]>;
  refused: Map<number, string>;
}

export function createRabbitmqSink(options: RabbitmqSinkOptions, deps: RabbitmqSinkDeps): Sink {
  const log = deps.logger.child({ module: 'rabbitmq-sink' });
  const confirmTimeoutMs = options.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
  const url = withHeartbeat(options.url);
  const where = `RabbitMQ ${safeAddress(options.url)} exchange "${options.exchange}"`;
  let link: Link | undefined;
  let connecting: Promise<Link> | undefined;
  let closed = false;
  let lastProblem: string | undefined;
  /** Learned from the server (a channel it closed for a message too large); records larger are refused up front. */
  let maxMessageBytes: number | undefined;
  let round: Round | undefined;
  /** Writes run one at a time: one channel, in order, so per-device order holds across writes too. */
  let writes: Promise<unknown> = Promise.resolve();

  const openLink = async (timeoutMs: number): Promise<Link> => {
    const model = await withTimeout(
      amqp.connect(url, { timeout: timeoutMs, clientProperties: { connection_name: 'sluice rabbitmq sink' } }),
      timeoutMs,
      `connecting to ${where}`,
      (late) => void late.close().catch(() => undefined),
    );
    const opened: Link = { model };
    model.on('error', (error: Error) => {
      lastProblem = describeAmqpFailure(error);
      log.warn({ err: error }, 'RabbitMQ connection failed');
    });
    model.on('close', (error?: Error) => {
      if (link === opened) link = undefined;
      if (!closed) {
        lastProblem = opened.abandoned ?? (error ? describeAmqpFailure(error) : 'connection closed');
        log.warn({ ...(error ? { err: error } : {}) }, 'RabbitMQ connection closed; reconnecting on the next write');
      }
    });
    model.on('blocked', (reason: string) => {
      opened.blocked = reason;
      log.warn({ reason }, 'RabbitMQ blocks publishing (resource alarm)');
    });
    model.on('unblocked', () => {
      opened.blocked = undefined;
      log.info('RabbitMQ unblocked publishing');
    });
    log.info({ exchange: options.exchange, queue: options.queue }, `connected to ${where}`);
    return opened;
  };

  /** A confirm channel with the exchange (and queue) declared: after every reconnect, as the server may be new. */
  const openChannel = async (target: Link, timeoutMs: number): Promise<ConfirmChannel> => {
    const channel = await withTimeout(target.model.createConfirmChannel(), timeoutMs, `opening a channel on ${where}`);
    target.channelError = undefined;
    channel.on('error', (error: Error) => {
      target.channelError = error;
      log.warn({ err: error }, 'RabbitMQ closed the channel');
    });
    channel.on('close', () => {
      if (target.channel === channel) target.channel = undefined;
    });
    channel.on('return', (message: Message) => onReturn(message));
    await withTimeout(
      (async () => {
        await channel.assertExchange(options.exchange, 'topic', { durable: true });
        if (options.queue === undefined) return;
        // Declared and bound here, so readings are kept before any consumer binds: RabbitMQ drops what no queue takes.
        await channel.assertQueue(options.queue, { durable: true, arguments: { 'x-queue-type': options.queueType } });
        await channel.bindQueue(options.queue, options.exchange, '#');
      })(),
      timeoutMs,
      `declaring the exchange and queue on ${where}`,
    );
    target.channel = channel;
    return channel;
  };

  /** The link and its channel, connecting lazily: only a write or a ping reconnects, never a timer. */
  const ready = (timeoutMs: number): Promise<{ target: Link; channel: ConfirmChannel }> => {
    if (closed) return Promise.reject(closedError());
    const current = link;
    if (current?.channel) return Promise.resolve({ target: current, channel: current.channel });
    connecting ??= (async () => {
      const target = current ?? (link = await openLink(Math.min(timeoutMs, CONNECT_TIMEOUT_MS)));
      try {
        await openChannel(target, Math.min(timeoutMs, CONNECT_TIMEOUT_MS));
      } catch (error) {
        // A declaration the server refuses closes the channel; the connection may be fine, keep it.
        if (target.channelError !== undefined) throw target.channelError;
        throw error;
      }
      lastProblem = undefined;
      return target;
    })().finally(() => (connecting = undefined));
    return connecting.then((target) => {
      if (!target.channel) throw sluiceError(ErrorCodes.SINK_UNAVAILABLE, `${where}: the channel closed while opening`);
      return { target, channel: target.channel };
    });
  };

  /** Drops a link whose state we no longer trust (a write timed out on it): the next write starts afresh. */
  const abandon = (target: Link, why: string): void => {
    target.abandoned = why;
    lastProblem = why;
    if (link === target) link = undefined;
    void withTimeout(target.model.close(), CLOSE_TIMEOUT_MS, 'closing').catch(() => undefined);
  };

  const onReturn = (message: Message): void => {
    const id = message.properties.messageId as string | undefined;
    const index = id === undefined ? undefined : round?.byId.get(id)?.shift();
    if (index === undefined || !round) return; // a return for a write that already gave up
    const { replyCode, replyText, routingKey } = message.fields as unknown as { replyCode: number; replyText: string; routingKey: string };
    round.refused.set(index, `RabbitMQ returned the message: ${replyCode} ${replyText} (exchange "${options.exchange}", routing key "${routingKey}")`);
  };

  const writeNow = async (records: readonly SinkRecord[]): Promise<{ refused: SinkRefusal[] }> => {
    if (closed) throw closedError();
    if (records.length === 0) return { refused: [] };
    const deadline = Date.now() + confirmTimeoutMs;
    const keys = records.map((record) => routingKeyOf(record.reading.deviceId, record.reading.metric));
    const refused = new Map<number, string>();
    /** Records before `from` are confirmed or refused. */
    let from = 0;
    for (let attempt = 0; ; attempt++) {
      if (maxMessageBytes !== undefined) {
        for (let i = from; i < records.length; i++) {
          const size = records[i]!.json.length;
          if (size > maxMessageBytes && !refused.has(i)) {
            refused.set(i, `RabbitMQ refuses messages over its max_message_size: PRECONDITION_FAILED - message size ${size} is larger than configured max size ${maxMessageBytes}`);
          }
        }
      }
      let target: Link;
      let channel: ConfirmChannel;
      try {
        ({ target, channel } = await ready(deadline - Date.now()));
      } catch (error) {
        throw unavailable(`could not connect to ${where}: ${describeAmqpFailure(error)}`, error);
      }
      const outcome = await publishRound(target, channel, records, keys, from, refused, deadline);
      if (outcome.firstUnconfirmed === undefined) break;
      // Only a channel closed for a message too large is worth another round here: everything else is the loop's.
      const learned = outcome.closeReason === undefined ? undefined : maxSizeFromCloseReason(outcome.closeReason);
      if (learned === undefined || attempt + 1 >= MAX_SIZE_ROUNDS) throw outcome.error ?? unavailable(`${where}: messages not confirmed`, undefined);
      maxMessageBytes = learned;
      log.warn({ maxMessageBytes: learned }, 'RabbitMQ refused a message over its max_message_size; refusing larger ones up front');
      from = outcome.firstUnconfirmed;
    }
    const list = [...refused].sort(([a], [b]) => a - b).map(([index, reason]) => ({ index, reason }));
    if (list.length > 0) log.warn({ refused: list.length, first: list[0]!.reason }, 'RabbitMQ refused readings: dead-lettered');
    return { refused: list };
  };

  /**
   * Publishes records `from`… in order on one channel and waits for every confirm. Resolves with the first record
   * not confirmed (undefined: all done) and why; throws when the write cannot go on at all.
   */
  const publishRound = async (
    target: Link,
    channel: ConfirmChannel,
    records: readonly SinkRecord[],
    keys: readonly string[],
    from: number,
    refused: Map<number, string>,
    deadline: number,
  ): Promise<{ firstUnconfirmed?: number; closeReason?: string; error?: SluiceError }> => {
    const current: Round = { byId: new Map(), refused };
    round = current;
    const confirms: Promise<unknown>[] = [];
    const failed = new Set<number>();
    let nacked = 0;
    let publishError: unknown;
    try {
      for (let i = from; i < records.length; i++) {
        if (refused.has(i)) continue;
        const record = records[i]!;
        let settle: (error: unknown) => void = () => undefined;
        const confirmed = new Promise<void>((resolve, reject) => {
          settle = (error) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve());
        });
        let fits: boolean;
        try {
          fits = channel.publish(options.exchange, keys[i]!, record.json, publishOptionsOf(record), (error: unknown) => settle(error));
        } catch (error) {
          // amqplib refuses headers past its 64 KiB table buffer: this record never goes, the others do.
          if (error instanceof RangeError) {
            refused.set(i, `the message's headers do not fit an AMQP frame: ${error.message}`);
            continue;
          }
          publishError = error;
          for (let j = i; j < records.length; j++) if (!refused.has(j)) failed.add(j);
          break;
        }
        const ids = current.byId.get(record.id) ?? [];
        ids.push(i);
        current.byId.set(record.id, ids);
        confirms.push(
          confirmed.then(
            () => undefined,
            (error: Error) => {
              failed.add(i);
              if (error.message === 'message nacked') nacked++;
            },
          ),
        );
        if (!fits) await waitForDrain(channel, deadline);
      }
      await withTimeout(Promise.all(confirms), deadline - Date.now(), 'waiting for confirms');
    } catch (error) {
      const unconfirmed = records.length - from - refused.size;
      const blocked = target.blocked === undefined ? '' : ` — the connection is blocked by a resource alarm: ${target.blocked}`;
      abandon(target, target.blocked === undefined ? `confirms timed out after ${confirmTimeoutMs} ms` : `blocked by a resource alarm: ${target.blocked}`);
      throw unavailable(`${where} did not confirm ${unconfirmed} messages within ${confirmTimeoutMs} ms${blocked}`, error, target.blocked !== undefined);
    } finally {
      if (round === current) round = undefined;
    }
    if (failed.size === 0 && publishError === undefined) return {};
    const firstUnconfirmed = Math.min(...failed);
    const closeReason = target.channelError?.message;
    if (nacked > 0 && closeReason === undefined) {
      return { firstUnconfirmed, error: unavailable(`${where} nacked ${nacked} of ${records.length - from} messages (a queue at its length limit with overflow reject-publish?)`, undefined) };
    }
    const why = closeReason ?? (publishError === undefined ? 'the channel closed' : describeAmqpFailure(publishError));
    const error = isAuthFailure(target.channelError)
      ? sluiceError(ErrorCodes.SINK_UNAUTHORIZED, `${where} refused our credentials: ${why}`, { retriable: true, cause: target.channelError })
      : unavailable(`${where}: ${failed.size} messages not confirmed: ${why}`, target.channelError ?? publishError);
    return { firstUnconfirmed, ...(closeReason !== undefined ? { closeReason } : {}), error };
  };

  const unavailable = (message: string, cause: unknown, blocked = false): SluiceError => {
    if (cause !== undefined && isAuthFailure(cause)) {
      return sluiceError(ErrorCodes.SINK_UNAUTHORIZED, `${message} — check the user, password and vhost in RABBITMQ_URL`, { retriable: true, cause });
    }
    return sluiceError(ErrorCodes.SINK_UNAVAILABLE, message, {
      retriable: true,
      cause,
      ...(blocked ? { details: { retryAfterMs: BLOCKED_RETRY_AFTER_MS } } : {}),
    });
  };

  return {
    name: 'rabbitmq',
    limits: { maxRecords: options.maxRecords, maxBytes: RABBITMQ_MAX_WRITE_BYTES },

    write(records) {
      const run = writes.then(() => writeNow(records));
      writes = run.catch(() => undefined);
      return run;
    },

    async ping() {
      if (closed) return false;
      try {
        const { target, channel } = await ready(PING_TIMEOUT_MS);
        // A blocked connection does not read our frames, so no round trip; the server is there all the same.
        if (target.blocked !== undefined) return true;
        await withTimeout(channel.checkExchange(options.exchange), PING_TIMEOUT_MS, 'ping');
        return true;
      } catch (error) {
        lastProblem = describeAmqpFailure(error);
        return false;
      }
    },

    health() {
      if (closed) return { connected: false, note: 'closed' };
      if (link?.blocked !== undefined) return { connected: true, note: `blocked by a resource alarm: ${link.blocked}` };
      if (link) return { connected: true };
      return { connected: false, note: lastProblem ?? 'not connected yet' };
    },

    async close() {
      if (closed) return;
      closed = true;
      const target = link;
      link = undefined;
      if (target) await withTimeout(target.model.close(), CLOSE_TIMEOUT_MS, 'closing').catch(() => undefined);
    },
  };
}

function waitForDrain(channel: ConfirmChannel, deadline: number): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const done = (): void => {
        channel.off('drain', done);
        channel.off('close', done);
        resolve();
      };
      channel.on('drain', done);
      channel.on('close', done);
    }),
    deadline - Date.now(),
    'waiting for the socket to drain',
  );
}

function closedError(): SluiceError {
  return sluiceError(ErrorCodes.CLOSED, 'the RabbitMQ sink is closed');
}

/** Rejects after `ms`; a value that arrives later goes to `onLate` (a connection to close). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string, onLate?: (value: T) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () => {
        settled = true;
        reject(new Error(`${what}: timed out after ${Math.max(0, Math.round(ms))} ms`));
      },
      Math.max(0, ms),
    );
    promise.then(
      (value) => {
        if (settled) onLate?.(value);
        else {
          settled = true;
          clearTimeout(timer);
          resolve(value);
        }
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Heartbeats find a dead peer the kernel has not told us about; the URL's own value wins. */
function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', '15');
  return parsed.toString();
}

/** The URL without its password, for messages and logs. */
function safeAddress(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}
