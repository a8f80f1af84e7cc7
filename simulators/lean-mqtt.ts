/**
 * A lean MQTT 3.1.1 client for load: CONNECT (with will), PUBLISH QoS 0/1, PUBACK, DISCONNECT, PINGREQ, and
 * nothing else. One small object and one socket per device instead of an mqtt.js instance (its stores, timers
 * and stream pipeline), so one process can hold 10,000+ connections and publish tens of thousands of messages
 * a second without becoming the bottleneck it measures. Packet layouts cite MQTT 3.1.1 (OASIS, 2014).
 *
 * Two shapes: `connectLean` is one connection (a drop fails what is in flight), and `openLeanSession` behaves
 * like device firmware: it keeps unacknowledged QoS 1 messages, reconnects with backoff after a drop, resends
 * them with the DUP flag and the same packet identifiers, and queues what is published while disconnected.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { backoffDelay, HALF_JITTER, type BackoffOptions } from '../core/retry.js';

export interface LeanConnectOptions {
  host: string;
  port: number;
  clientId: string;
  username?: string;
  password?: string;
  /** Seconds; 0 disables keep-alive [MQTT-3.1.2-10]. */
  keepaliveS?: number;
  will?: { topic: string; payload: string; qos: 0 | 1; retain: boolean };
  connectTimeoutMs?: number;
}

export interface LeanClient {
  /** For QoS 1, `onAck` runs on PUBACK; for QoS 0 once the packet is written. */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1, onAck?: (error?: Error) => void, retain?: boolean): void;
  inflight(): number;
  /** Clean close: DISCONNECT, so the broker discards the will [MQTT-3.1.2-10]. */
  end(): Promise<void>;
  /** Abrupt close: the socket is destroyed without DISCONNECT, so the broker publishes the will. */
  destroy(): void;
  onClose(listener: (error?: Error) => void): void;
  readonly closed: boolean;
}

/** A refused CONNECT: `code` is the CONNACK return code [MQTT-3.2.2-3] (4 = bad user name or password, 5 = not authorized). */
export class ConnackError extends Error {
  constructor(readonly code: number) {
    super(`connection refused: CONNACK return code ${code}`);
    this.name = 'ConnackError';
  }
}

function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    bytes.push(byte);
  } while (length > 0);
  return Buffer.from(bytes);
}

function utf8Field(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** CONNECT [MQTT-3.1]: protocol name "MQTT", level 4, flags, keep-alive, then the payload fields in order. */
export function encodeConnect(options: LeanConnectOptions): Buffer {
  let flags = 0x02; // clean session
  const payload = [utf8Field(options.clientId)];
  if (options.will) {
    flags |= 0x04 | (options.will.qos << 3) | (options.will.retain ? 0x20 : 0);
    payload.push(utf8Field(options.will.topic), utf8Field(options.will.payload));
  }
  if (options.username !== undefined) {
    flags |= 0x80;
    payload.push(utf8Field(options.username));
  }
  if (options.password !== undefined) {
    flags |= 0x40;
    payload.push(utf8Field(options.password));
  }
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, 0, 0]);
  variable.writeUInt16BE(options.keepaliveS ?? 0, 8);
  const body = Buffer.concat([variable, ...payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/**
 * PUBLISH [MQTT-3.3]: topic, packet identifier only for QoS > 0, payload. `dup` marks a resend of a message
 * that may have reached the server before [MQTT-3.3.1.1]; it is never set for QoS 0 [MQTT-3.3.1-2].
 */
export function encodePublish(topic: string, payload: Buffer, qos: 0 | 1, packetId: number, retain = false, dup = false): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const length = 2 + topicBytes + (qos > 0 ? 2 : 0) + payload.length;
  const lengthBytes = remainingLength(length);
  const packet = Buffer.allocUnsafe(1 + lengthBytes.length + length);
  let offset = 0;
  packet[offset++] = 0x30 | (dup && qos > 0 ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  lengthBytes.copy(packet, offset);
  offset += lengthBytes.length;
  packet.writeUInt16BE(topicBytes, offset);
  offset += 2;
  offset += packet.write(topic, offset, 'utf8');
  if (qos > 0) {
    packet.writeUInt16BE(packetId, offset);
    offset += 2;
  }
  payload.copy(packet, offset);
  return packet;
}

const DISCONNECT = Buffer.from([0xe0, 0x00]);
const PINGREQ = Buffer.from([0xc0, 0x00]);

/**
 * Splits a byte stream into control packets [MQTT-2.2]: fixed header byte, remaining length (1–4 bytes of
 * 7 bits), body. Returns the function to feed chunks to; `onPacket` gets the first header byte and the body.
 */
export function createPacketReader(onPacket: (header: number, body: Buffer) => void): (chunk: Buffer) => void {
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let offset = 0;
    for (;;) {
      if (buffered.length - offset < 2) break;
      let length = 0;
      let multiplier = 1;
      let index = offset + 1;
      let complete = false;
      while (index < buffered.length) {
        const byte = buffered[index++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || buffered.length - index < length) break;
      onPacket(buffered[offset]!, buffered.subarray(index, index + length));
      offset = index + length;
    }
    buffered = offset >= buffered.length ? Buffer.alloc(0) : buffered.subarray(offset);
  };
}

/**
 * One connection: TCP, CONNECT, and the CONNACK. Resolves with the socket once the server accepted
 * (return code 0); rejects with a ConnackError when it refused, or the socket error when there was no answer.
 * After that, every other packet goes to `onPacket` and the end of the connection to `onClose`.
 */
function dial(options: LeanConnectOptions, onPacket: (type: number, body: Buffer) => void, onClose: (error?: Error) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = netConnect({ host: options.host, port: options.port, noDelay: true });
    let connected = false;
    let lastError: Error | undefined;
    let pinger: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      socket.destroy(new Error(`no CONNACK within ${options.connectTimeoutMs ?? 30_000} ms`));
    }, options.connectTimeoutMs ?? 30_000);

    socket.on(
      'data',
      createPacketReader((header, body) => {
        const type = header >> 4;
        if (type !== 2) return onPacket(type, body);
        // CONNACK [MQTT-3.2]: byte 2 is the return code.
        clearTimeout(timer);
        const code = body[1] ?? 255;
        if (code !== 0) {
          lastError = new ConnackError(code);
          socket.destroy();
          return;
        }
        connected = true;
        if (options.keepaliveS) {
          pinger = setInterval(() => socket.write(PINGREQ), (options.keepaliveS * 1000) / 2);
          pinger.unref();
        }
        resolve(socket);
      }),
    );
    socket.on('error', (error) => {
      lastError ??= error;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (pinger) clearInterval(pinger);
      if (connected) onClose(lastError);
      else reject(lastError ?? new Error('connection closed'));
    });
    socket.once('connect', () => socket.write(encodeConnect(options)));
  });
}

/** Ends a connection cleanly: DISCONNECT, so the broker discards the will [MQTT-3.1.2-10]. */
function disconnect(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((done) => {
    // A broker too busy to close its side must not hold the client: the DISCONNECT is already written.
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.once('close', () => {
      clearTimeout(timer);
      done();
    });
    socket.end(DISCONNECT);
  });
}

export async function connectLean(options: LeanConnectOptions): Promise<LeanClient> {
  const pending = new Map<number, (error?: Error) => void>();
  const closeListeners: ((error?: Error) => void)[] = [];
  let nextId = 1;
  let closed = false;
  const socket = await dial(
    options,
    (type, body) => {
      if (type !== 4) return; // PINGRESP, SUBACK and anything else a publisher does not need
      // PUBACK [MQTT-3.4]: the packet identifier.
      const id = body.readUInt16BE(0);
      const done = pending.get(id);
      pending.delete(id);
      done?.();
    },
    (lastError) => {
      closed = true;
      const error = lastError ?? new Error('connection closed');
      for (const done of pending.values()) done(error);
      pending.clear();
      for (const listener of closeListeners) listener(lastError);
    },
  );
  return {
    publish(topic, payload, qos, onAck, retain = false) {
      if (closed) {
        onAck?.(new Error('connection closed'));
        return;
      }
      const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
      let id = 0;
      if (qos === 1) {
        // Packet identifiers are 1..65535 and must not be reused while in flight [MQTT-2.3.1-2].
        do {
          id = nextId;
          nextId = nextId === 65_535 ? 1 : nextId + 1;
        } while (pending.has(id));
        pending.set(id, onAck ?? (() => undefined));
      }
      socket.write(encodePublish(topic, body, qos, id, retain), qos === 0 && onAck ? () => onAck() : undefined);
    },
    inflight: () => pending.size,
    end: () => (closed ? Promise.resolve() : disconnect(socket)),
    destroy() {
      socket.destroy();
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
    get closed() {
      return closed;
    },
  };
}

export interface OutboxEntry {
  /** Publish order within the session. */
  readonly sequence: number;
  /** 1..65535 for QoS 1; 0 for QoS 0. */
  readonly packetId: number;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  /** How often it was written; from the second time on it goes out with DUP set. */
  sends: number;
  /** Written on the current connection (and, for QoS 1, waiting for its PUBACK). */
  written: boolean;
  readonly onAck: ((error?: Error) => void) | undefined;
}

/**
 * What a session still owes the server, in publish order: QoS 1 messages until their PUBACK, and anything
 * published while disconnected. Pure bookkeeping (no socket), so resends are tested on their own.
 */
export class Outbox {
  private readonly entries = new Map<number, OutboxEntry>();
  private readonly byPacketId = new Map<number, number>();
  private nextSequence = 0;
  private nextId = 1;

  get size(): number {
    return this.entries.size;
  }

  add(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean, onAck?: (error?: Error) => void): OutboxEntry {
    let packetId = 0;
    if (qos === 1) {
      if (this.byPacketId.size >= 65_535) throw new Error('65,535 QoS 1 messages in flight: no packet identifier left');
      // Packet identifiers are 1..65535 and not reused while their message is unacknowledged [MQTT-2.3.1-2],
      // across reconnects too, since a resend keeps its identifier.
      do {
        packetId = this.nextId;
        this.nextId = this.nextId === 65_535 ? 1 : this.nextId + 1;
      } while (this.byPacketId.has(packetId));
    }
    const sequence = this.nextSequence++;
    const entry: OutboxEntry = { sequence, packetId, topic, payload, qos, retain, sends: 0, written: false, onAck };
    this.entries.set(sequence, entry);
    if (qos === 1) this.byPacketId.set(packetId, sequence);
    return entry;
  }

  /**
   * The bytes to write for `entry` on the current connection. A QoS 1 message stays until its PUBACK; a QoS 0
   * message is done once written.
   */
  write(entry: OutboxEntry): Buffer {
    const packet = encodePublish(entry.topic, entry.payload, entry.qos, entry.packetId, entry.retain, entry.sends > 0);
    entry.sends++;
    entry.written = true;
    if (entry.qos === 0) this.entries.delete(entry.sequence);
    return packet;
  }

  /** Messages not written on the current connection yet, oldest first: after a reconnect, resends come first. */
  unwritten(): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const entry of this.entries.values()) if (!entry.written) out.push(entry);
    return out;
  }

  /** PUBACK: the message is done. Undefined for an identifier not in flight (a late or repeated PUBACK). */
  ack(packetId: number): OutboxEntry | undefined {
    const sequence = this.byPacketId.get(packetId);
    if (sequence === undefined) return undefined;
    this.byPacketId.delete(packetId);
    const entry = this.entries.get(sequence)!;
    this.entries.delete(sequence);
    return entry;
  }

  /** The connection is gone: everything is to be written again. Returns how many written QoS 1 messages were unacknowledged. */
  connectionLost(): number {
    let unacked = 0;
    for (const entry of this.entries.values()) {
      if (entry.written) unacked++;
      entry.written = false;
    }
    return unacked;
  }

  /** Fails and forgets everything (the session ends). */
  failAll(error: Error): void {
    const entries = [...this.entries.values()];
    this.entries.clear();
    this.byPacketId.clear();
    for (const entry of entries) entry.onAck?.(error);
  }
}

export interface LeanSessionOptions extends LeanConnectOptions {
  /** First delay before reconnecting; doubled after each failed attempt up to `maxReconnectMs`, with jitter. */
  minReconnectMs?: number;
  maxReconnectMs?: number;
  /** Jitter source in [0, 1), injectable for tests. */
  random?: () => number;
  /** The connection was lost without the device ending it; `unacked` QoS 1 messages were in flight. */
  onDropped?: (info: { unacked: number; error?: Error }) => void;
  /** A reconnect succeeded; `resent` messages went out again with DUP set. */
  onReconnected?: (info: { resent: number; attempts: number }) => void;
  /** A reconnect was refused with this CONNACK return code [MQTT-3.2.2-3]. */
  onRefused?: (code: number) => void;
  /** A reconnect got no CONNACK (connection refused or reset, timeout). */
  onConnectFailed?: (error: Error) => void;
}

export interface LeanSession {
  /**
   * Publishes now when connected, else when the session is connected again. For QoS 1 `onAck` runs once, on the
   * PUBACK of whichever send got one; for QoS 0 once the packet is written. It gets an error only when the
   * session ends first.
   */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1, onAck?: (error?: Error) => void, retain?: boolean): void;
  /** Messages not done yet: QoS 1 in flight plus anything queued while disconnected. */
  inflight(): number;
  readonly connected: boolean;
  /** Stops reconnecting, sends DISCONNECT when connected, and fails what is still owed. */
  end(): Promise<void>;
}

/** Keeps the backoff where it is until a connection has proved itself: a PUBACK, or this long connected. */
const BACKOFF_RESET_AFTER_MS = 5000;

/**
 * A device's session as firmware keeps it. Resolves after the first connection; a refused or failed first
 * connection rejects (ConnackError for a refusal), as `connectLean` does. After that, the session never fails
 * on its own: a dropped connection is retried with exponential backoff (full jitter in the upper half), and
 * what was unacknowledged is resent with DUP and its packet identifier before anything new.
 *
 * CONNECT keeps clean session = 1, so the server holds no session state across the reconnect; the resend is the
 * device's own redelivery of a reading it still holds. The server may see the message twice (QoS 1 is at least
 * once); the reading inside is the same, so the store keeps one point.
 */
export async function openLeanSession(options: LeanSessionOptions): Promise<LeanSession> {
  const outbox = new Outbox();
  const minDelay = options.minReconnectMs ?? 250;
  // Doubling from the first delay; PUBACK or a connection that has lasted starts it over.
  const backoff: BackoffOptions = { initialMs: minDelay, maxMs: Math.max(minDelay, options.maxReconnectMs ?? 5000), jitter: HALF_JITTER };
  const random = options.random ?? Math.random;
  let socket: Socket | undefined;
  let ended = false;
  /** Reconnects scheduled since the connection last proved itself: the backoff's attempt. */
  let backoffAttempt = 0;
  let attempts = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let provedTimer: NodeJS.Timeout | undefined;

  const onPacket = (type: number, body: Buffer): void => {
    if (type !== 4) return;
    // PUBACK [MQTT-3.4]: the packet identifier.
    const entry = outbox.ack(body.readUInt16BE(0));
    if (!entry) return;
    backoffAttempt = 0;
    entry.onAck?.();
  };

  const onClose = (error?: Error): void => {
    socket = undefined;
    clearTimeout(provedTimer);
    if (ended) return;
    const unacked = outbox.connectionLost();
    options.onDropped?.({ unacked, ...(error ? { error } : {}) });
    scheduleReconnect();
  };

  /** Writes everything not yet written on this connection, in publish order; returns how many were resends. */
  const flush = (current: Socket): number => {
    const entries = outbox.unwritten();
    if (entries.length === 0) return 0;
    let resent = 0;
    current.cork();
    for (const entry of entries) {
      if (entry.sends > 0) resent++;
      const onAck = entry.onAck;
      current.write(outbox.write(entry), entry.qos === 0 && onAck ? () => onAck() : undefined);
    }
    current.uncork();
    return resent;
  };

  const connected = (current: Socket): void => {
    socket = current;
    provedTimer = setTimeout(() => (backoffAttempt = 0), BACKOFF_RESET_AFTER_MS);
    provedTimer.unref();
  };

  function scheduleReconnect(): void {
    reconnectTimer = setTimeout(() => void reconnect(), backoffDelay(backoffAttempt++, backoff, random));
  }

  async function reconnect(): Promise<void> {
    reconnectTimer = undefined;
    if (ended) return;
    attempts++;
    try {
      const current = await dial(options, onPacket, onClose);
      if (ended) {
        await disconnect(current);
        return;
      }
      connected(current);
      const resent = flush(current);
      options.onReconnected?.({ resent, attempts });
      attempts = 0;
    } catch (error) {
      if (ended) return;
      if (error instanceof ConnackError) options.onRefused?.(error.code);
      else options.onConnectFailed?.(error as Error);
      scheduleReconnect();
    }
  }

  connected(await dial(options, onPacket, onClose));

  return {
    publish(topic, payload, qos, onAck, retain = false) {
      if (ended) {
        onAck?.(new Error('session ended'));
        return;
      }
      const entry = outbox.add(topic, typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload, qos, retain, onAck);
      // While disconnected the message waits in the outbox; the reconnect writes it.
      if (socket) socket.write(outbox.write(entry), qos === 0 && onAck ? () => onAck() : undefined);
    },
    inflight: () => outbox.size,
    get connected() {
      return socket !== undefined;
    },
    async end() {
      if (ended) return;
      ended = true;
      clearTimeout(reconnectTimer);
      clearTimeout(provedTimer);
      if (socket) await disconnect(socket);
      outbox.failAll(new Error('session ended'));
    },
  };
}
