/**
 * A lean MQTT 3.1.1 client for load: CONNECT (with will), PUBLISH QoS 0/1, PUBACK, DISCONNECT, PINGREQ, and
 * nothing else. One small object and one socket per device instead of an mqtt.js instance (its stores, timers
 * and stream pipeline), so one process can hold 10,000+ connections and publish tens of thousands of messages
 * a second without becoming the bottleneck it measures. Packet layouts cite MQTT 3.1.1 (OASIS, 2014).
 */
import { connect as netConnect, type Socket } from 'node:net';

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

/** PUBLISH [MQTT-3.3]: topic, packet identifier only for QoS > 0, payload. */
export function encodePublish(topic: string, payload: Buffer, qos: 0 | 1, packetId: number, retain = false): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const length = 2 + topicBytes + (qos > 0 ? 2 : 0) + payload.length;
  const lengthBytes = remainingLength(length);
  const packet = Buffer.allocUnsafe(1 + lengthBytes.length + length);
  let offset = 0;
  packet[offset++] = 0x30 | (qos << 1) | (retain ? 1 : 0);
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

export function connectLean(options: LeanConnectOptions): Promise<LeanClient> {
  return new Promise((resolve, reject) => {
    const socket: Socket = netConnect({ host: options.host, port: options.port, noDelay: true });
    const pending = new Map<number, (error?: Error) => void>();
    const closeListeners: ((error?: Error) => void)[] = [];
    let nextId = 1;
    let buffered: Buffer = Buffer.alloc(0);
    let connected = false;
    let closed = false;
    let lastError: Error | undefined;
    let pinger: NodeJS.Timeout | undefined;

    const timer = setTimeout(() => {
      socket.destroy(new Error(`no CONNACK within ${options.connectTimeoutMs ?? 30_000} ms`));
    }, options.connectTimeoutMs ?? 30_000);

    const client: LeanClient = {
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
      end() {
        if (closed) return Promise.resolve();
        return new Promise((done) => {
          // A broker too busy to close its side must not hold the client: the DISCONNECT is already written.
          const timer = setTimeout(() => socket.destroy(), 2000);
          socket.once('close', () => {
            clearTimeout(timer);
            done();
          });
          socket.end(DISCONNECT);
        });
      },
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

    function handle(type: number, body: Buffer): void {
      switch (type) {
        case 2: {
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
          resolve(client);
          return;
        }
        case 4: {
          // PUBACK [MQTT-3.4]: the packet identifier.
          const id = body.readUInt16BE(0);
          const done = pending.get(id);
          pending.delete(id);
          done?.();
          return;
        }
        default:
          return; // PINGRESP, SUBACK and anything else a publisher does not need
      }
    }

    socket.on('data', (chunk: Buffer) => {
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
        handle(buffered[offset]! >> 4, buffered.subarray(index, index + length));
        offset = index + length;
      }
      buffered = offset >= buffered.length ? Buffer.alloc(0) : buffered.subarray(offset);
    });
    socket.on('error', (error) => {
      lastError ??= error;
    });
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      if (pinger) clearInterval(pinger);
      const error = lastError ?? new Error('connection closed');
      for (const done of pending.values()) done(error);
      pending.clear();
      if (!connected) reject(error);
      for (const listener of closeListeners) listener(lastError);
    });
    socket.once('connect', () => socket.write(encodeConnect(options)));
  });
}
