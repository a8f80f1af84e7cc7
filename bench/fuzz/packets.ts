/**
 * MQTT 3.1.1 packets for fuzzing the listener: valid shapes with random field values, built by mqtt-packet's
 * `generate` (the encoder aedes' own parser is tested against), then broken at the byte level. Pure: every
 * byte follows from the Rng passed in, so a run is reproducible from its seed.
 */
import { generate, type IConnectPacket, type Packet, type QoS } from 'mqtt-packet';
import type { Rng } from '../../simulators/prng.js';

export const PACKET_KINDS = [
  'connect',
  'connack',
  'publish0',
  'publish1',
  'publish2',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
  // Control packet types 0 and 15 are reserved in 3.1.1 [MQTT-2.2.1]; mqtt-packet cannot generate them.
  'reserved0',
  'reserved15',
] as const;
export type PacketKind = (typeof PACKET_KINDS)[number];

export const MUTATIONS = ['none', 'flip-bits', 'random-flags', 'truncate', 'wrong-length', 'huge-length', 'overlong-length', 'splice-junk'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** The largest Remaining Length a 4-byte variable byte integer can carry [MQTT-2.2.3]. */
export const MAX_REMAINING_LENGTH = 268_435_455;
/** An MQTT UTF-8 string field holds at most this many bytes (16-bit length prefix) [MQTT-1.5.3]. */
const MAX_STRING_BYTES = 65_535;

export interface Frame {
  kind: PacketKind;
  mutation: Mutation;
  /** What goes on the wire. */
  bytes: Buffer;
  /** The packet before the mutation, for tests and reproductions. */
  valid: Buffer;
  /** The Remaining Length the bytes announce; undefined when the length field itself is malformed. */
  announcedLength?: number;
}

/** Who the fuzz claims to be. Registered ids are only ever used with wrong secrets. */
export interface FuzzIdentities {
  registered: readonly string[];
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng.next() * items.length)]!;
const chance = (rng: Rng, p: number): boolean => rng.next() < p;

/** Log-uniform integer in [min, max]: small values often, the extremes still reached. */
export function logInt(rng: Rng, min: number, max: number): number {
  const lo = Math.log(Math.max(1, min));
  const hi = Math.log(Math.max(1, max));
  return Math.min(max, Math.max(min, Math.round(Math.exp(lo + rng.next() * (hi - lo)))));
}

export function randomBytes(rng: Rng, length: number): Buffer {
  // Four bytes per draw: payloads of tens of KiB are generated all the time.
  const bytes = Buffer.allocUnsafe(length + 3);
  for (let i = 0; i < length; i += 4) bytes.writeUInt32LE(Math.floor(rng.next() * 4294967296), i);
  return bytes.subarray(0, length);
}

// ---------------------------------------------------------------------------------------------------------
// Strings. mqtt-packet encodes JavaScript strings as UTF-8 and checks nothing, so U+0000 goes through as is;
// invalid UTF-8 cannot be expressed as a string, so such a field is written as an ASCII marker and the
// marker's bytes are overwritten after encoding (same length, so every length prefix stays right).

interface Patch {
  marker: string;
  bytes: Buffer;
}

// Each a sequence a conforming decoder must reject [MQTT-1.5.3-1]: a lone continuation byte, 0xFF, an
// overlong NUL, a UTF-16 surrogate, a truncated sequence, a code point above U+10FFFF.
const INVALID_UTF8 = [[0x80], [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xfe]];
const UNICODE = ['é', 'ß', '漢', '€', '😀', '\u200b', '\ufeff', '\u0085'];
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';

function alphanumeric(rng: Rng, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += ALPHANUMERIC[Math.floor(rng.next() * ALPHANUMERIC.length)];
  return text;
}

function invalidUtf8(rng: Rng, patches: Patch[]): string {
  // The marker starts with a letter no other field starts with here, so indexOf finds this field.
  const marker = `Q${alphanumeric(rng, logInt(rng, 11, 200))}`;
  const bytes = Buffer.from(marker);
  for (let n = rng.int(1, 3); n > 0; n--) {
    const sequence = pick(rng, INVALID_UTF8);
    bytes.set(sequence, rng.int(1, bytes.length - sequence.length));
  }
  patches.push({ marker, bytes });
  return marker;
}

type TextKind = 'id' | 'printable' | 'unicode' | 'nul' | 'long' | 'invalid-utf8' | 'empty';

function text(rng: Rng, kind: TextKind, patches: Patch[]): string {
  switch (kind) {
    case 'id':
      return `fuzz-${alphanumeric(rng, rng.int(4, 12))}`;
    case 'printable': {
      let value = '';
      for (let n = logInt(rng, 1, 64); n > 0; n--) value += String.fromCharCode(rng.int(0x20, 0x7e));
      return value;
    }
    case 'unicode': {
      let value = '';
      for (let n = rng.int(1, 16); n > 0; n--) value += chance(rng, 0.5) ? pick(rng, UNICODE) : alphanumeric(rng, 1);
      return value;
    }
    case 'nul':
      return `${alphanumeric(rng, rng.int(0, 8))}\u0000${alphanumeric(rng, rng.int(0, 8))}`;
    case 'long':
      return 'x'.repeat(logInt(rng, 1024, MAX_STRING_BYTES));
    case 'invalid-utf8':
      return invalidUtf8(rng, patches);
    case 'empty':
      return '';
  }
}

function anyText(rng: Rng, patches: Patch[]): string {
  return text(rng, pick(rng, ['id', 'printable', 'unicode', 'nul', 'long', 'invalid-utf8', 'empty'] as const), patches);
}

function deviceId(rng: Rng, identities: FuzzIdentities, patches: Patch[]): string {
  if (identities.registered.length > 0 && chance(rng, 0.4)) return pick(rng, identities.registered);
  return chance(rng, 0.7) ? text(rng, 'id', patches) : anyText(rng, patches);
}

/** Cuts a string to what a length prefix can announce; longer ones mqtt-packet would encode wrongly. */
function fit(value: string): string {
  let text = value;
  while (Buffer.byteLength(text) > MAX_STRING_BYTES) text = text.slice(0, Math.floor((text.length * MAX_STRING_BYTES) / Buffer.byteLength(text)) - 1);
  return text;
}

function topic(rng: Rng, identities: FuzzIdentities, patches: Patch[]): string {
  return fit(anyTopic(rng, identities, patches));
}

function anyTopic(rng: Rng, identities: FuzzIdentities, patches: Patch[]): string {
  const id = (): string => deviceId(rng, identities, patches);
  switch (rng.int(0, 7)) {
    case 0:
      return `devices/${id()}/telemetry`;
    case 1:
      return `devices/${id()}/telemetry/${pick(rng, ['temperature', 'humidity', '+', '#', ''])}`;
    case 2:
      return `devices/${id()}/${pick(rng, ['status', 'commands/reboot', 'commands/#', 'events', 'x/y/z'])}`;
    case 3:
      // Wildcards, valid and not: [MQTT-4.7.1-2] '#' last and alone in its level, [MQTT-4.7.1-3] '+' alone.
      return pick(rng, ['#', '+', '+/+', 'devices/+/telemetry', 'devices/#', '$SYS/#', '$SYS/broker/+', 'a/#/b', 'a+/b', 'devices/x#', '/', '//', '+/#']);
    case 4:
      // Deeper than the gateway's level limit (16 by default) and far deeper.
      return Array.from({ length: logInt(rng, 2, 2000) }, () => alphanumeric(rng, rng.int(0, 3))).join('/');
    case 5:
      return `devices/${id()}/telemetry/${'m'.repeat(logInt(rng, 256, MAX_STRING_BYTES))}`;
    case 6:
      return `devices/${id()}/telemetry/${text(rng, pick(rng, ['nul', 'invalid-utf8', 'unicode'] as const), patches)}`;
    default:
      return anyText(rng, patches);
  }
}

function payload(rng: Rng): Buffer {
  switch (rng.int(0, 4)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return Buffer.from(JSON.stringify({ temperature: Math.round(rng.next() * 1000) / 10 }));
    case 2:
      return Buffer.from(String(rng.next() * 100));
    case 3:
      return randomBytes(rng, logInt(rng, 1, 2048));
    default:
      return randomBytes(rng, logInt(rng, 2048, 65_536));
  }
}

const qos = (rng: Rng): QoS => rng.int(0, 2) as QoS;
// 0 is not a valid Packet Identifier [MQTT-2.3.1-1]; include it now and then.
const messageId = (rng: Rng): number => (chance(rng, 0.05) ? 0 : rng.int(1, 65_535));

function connect(rng: Rng, identities: FuzzIdentities, patches: Patch[]): { packet: IConnectPacket; fix: (bytes: Buffer) => void } {
  const legacy = chance(rng, 0.1);
  const packet: IConnectPacket = {
    cmd: 'connect',
    protocolId: legacy ? 'MQIsdp' : 'MQTT',
    protocolVersion: legacy ? 3 : 4,
    clean: chance(rng, 0.8),
    // Mostly within the gateway's bounds, so the CONNECT reaches the credential check behind them.
    keepalive: chance(rng, 0.8) ? pick(rng, [1, 5, 30, 60, 3600, rng.int(1, 3600)]) : pick(rng, [0, 3601, 65_535, rng.int(0, 65_535)]),
    clientId: '',
  };
  // Who it claims to be: a stranger, a registered device with a wrong secret, nobody, or garbage.
  const who = rng.next();
  const username = who < 0.45 ? text(rng, 'id', patches) : who < 0.8 && identities.registered.length > 0 ? pick(rng, identities.registered) : who < 0.9 ? undefined : anyText(rng, patches);
  if (username !== undefined) {
    packet.username = username;
    if (chance(rng, 0.85)) {
      // Shaped like a real secret (24 characters), or anything at all; never a real one.
      packet.password = chance(rng, 0.6) ? Buffer.from(alphanumeric(rng, 24)) : chance(rng, 0.5) ? randomBytes(rng, logInt(rng, 1, 512)) : Buffer.alloc(0);
    }
  }
  const clientKind = rng.next();
  // A registered id as client id tries to take over that device's session before authenticating [MQTT-3.1.4-2].
  packet.clientId =
    clientKind < 0.5 && username !== undefined ? username : clientKind < 0.7 && identities.registered.length > 0 ? pick(rng, identities.registered) : clientKind < 0.8 ? '' : anyText(rng, patches);
  // An empty client id needs a clean session in 3.1.1 [MQTT-3.1.3-7] and is not allowed at all in 3.1.
  if (packet.clientId === '' && legacy) packet.clientId = 'c';
  if (packet.clientId === '' && !packet.clean) packet.clean = true;
  if (chance(rng, 0.3)) packet.will = { topic: topic(rng, identities, patches) || 'w', payload: payload(rng), qos: qos(rng), retain: chance(rng, 0.3) };
  // Fields mqtt-packet refuses to generate are set on the encoded bytes: any protocol level, the reserved
  // connect flag [MQTT-3.1.2-3], will QoS 3 [MQTT-3.1.2-14].
  const level = chance(rng, 0.1) ? rng.int(0, 255) : undefined;
  const reservedFlag = chance(rng, 0.05);
  const willQos3 = packet.will !== undefined && chance(rng, 0.05);
  const fix = (bytes: Buffer): void => {
    const levelAt = headerLength(bytes) + 2 + bytes.readUInt16BE(headerLength(bytes));
    if (level !== undefined) bytes[levelAt] = level;
    if (reservedFlag) bytes[levelAt + 1]! |= 0x01;
    if (willQos3) bytes[levelAt + 1]! |= 0x18;
  };
  return { packet, fix };
}

function shape(rng: Rng, kind: Exclude<PacketKind, 'reserved0' | 'reserved15'>, identities: FuzzIdentities, patches: Patch[]): { packet: Packet; fix?: (bytes: Buffer) => void } {
  switch (kind) {
    case 'connect':
      return connect(rng, identities, patches);
    case 'connack':
      return { packet: { cmd: 'connack', sessionPresent: chance(rng, 0.5), returnCode: chance(rng, 0.8) ? rng.int(0, 5) : rng.int(0, 255) } };
    case 'publish0':
    case 'publish1':
    case 'publish2': {
      const level = Number(kind.slice(-1)) as QoS;
      return {
        packet: {
          cmd: 'publish',
          qos: level,
          dup: chance(rng, 0.2),
          retain: chance(rng, 0.2),
          topic: topic(rng, identities, patches),
          payload: payload(rng),
          ...(level > 0 ? { messageId: messageId(rng) } : {}),
        },
      };
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return { packet: { cmd: kind, messageId: messageId(rng) } };
    case 'subscribe':
      return {
        packet: {
          cmd: 'subscribe',
          messageId: messageId(rng),
          subscriptions: Array.from({ length: logInt(rng, 1, 16) }, () => ({ topic: topic(rng, identities, patches), qos: qos(rng) })),
        },
      };
    case 'suback':
      return { packet: { cmd: 'suback', messageId: messageId(rng), granted: Array.from({ length: rng.int(1, 8) }, () => pick(rng, [0, 1, 2, 128, rng.int(0, 255)])) } };
    case 'unsubscribe':
      return { packet: { cmd: 'unsubscribe', messageId: messageId(rng), unsubscriptions: Array.from({ length: logInt(rng, 1, 16) }, () => topic(rng, identities, patches)) } };
    case 'unsuback':
      return { packet: { cmd: 'unsuback', messageId: messageId(rng), granted: [] } };
    case 'pingreq':
    case 'pingresp':
    case 'disconnect':
      return { packet: { cmd: kind } };
  }
}

/** A packet of kind `kind` with random fields, unmutated. */
export function validPacket(rng: Rng, kind: PacketKind, identities: FuzzIdentities): Buffer {
  if (kind === 'reserved0' || kind === 'reserved15') {
    const body = randomBytes(rng, logInt(rng, 1, 64) - 1);
    return Buffer.concat([Buffer.from([((kind === 'reserved0' ? 0 : 15) << 4) | rng.int(0, 15)]), encodeLength(body.length), body]);
  }
  const patches: Patch[] = [];
  const { packet, fix } = shape(rng, kind, identities, patches);
  const bytes = generate(packet);
  // A marker can appear twice (a client id equal to the username): every copy is patched.
  for (const patch of patches) {
    for (let at = bytes.indexOf(patch.marker); at >= 0; at = bytes.indexOf(patch.marker, at + patch.bytes.length)) patch.bytes.copy(bytes, at);
  }
  fix?.(bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------
// The fixed header: one byte of type and flags, then the Remaining Length in 1–4 bytes of 7 bits each, least
// significant first, the high bit saying another byte follows [MQTT-2.2.3].

export function encodeLength(length: number): Buffer {
  const bytes: number[] = [];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}

/** The Remaining Length at bytes[1..], or undefined when it is cut short or longer than 4 bytes. */
export function decodeLength(bytes: Buffer): { length: number; bytes: number } | undefined {
  let length = 0;
  for (let i = 0; i < 4; i++) {
    const byte = bytes[1 + i];
    if (byte === undefined) return undefined;
    length += (byte & 0x7f) * 128 ** i;
    if ((byte & 0x80) === 0) return { length, bytes: i + 1 };
  }
  return undefined;
}

function headerLength(bytes: Buffer): number {
  return 1 + decodeLength(bytes)!.bytes;
}

/** Applies `mutation` to a valid packet; the result differs from it in exactly the way the name says. */
export function mutate(rng: Rng, valid: Buffer, mutation: Mutation): { bytes: Buffer; announcedLength?: number } {
  const header = headerLength(valid);
  const body = valid.subarray(header);
  const withLength = (length: number, rest: Buffer = body): { bytes: Buffer; announcedLength: number } => ({
    bytes: Buffer.concat([valid.subarray(0, 1), encodeLength(length), rest]),
    announcedLength: length,
  });
  switch (mutation) {
    case 'none':
      return { bytes: Buffer.from(valid), announcedLength: body.length };
    case 'flip-bits': {
      // Header bytes stay, so the parser reads a whole packet whose fields are wrong.
      if (body.length === 0) return mutate(rng, valid, 'random-flags');
      const bytes = Buffer.from(valid);
      for (let n = rng.int(1, Math.min(8, body.length * 8)); n > 0; n--) bytes[rng.int(header, bytes.length - 1)]! ^= 1 << rng.int(0, 7);
      if (bytes.equals(valid)) bytes[header]! ^= 0x01;
      return { bytes, announcedLength: body.length };
    }
    case 'random-flags': {
      // Flags are fixed for every type but PUBLISH [MQTT-2.2.2-2]; for PUBLISH this reaches QoS 3 [MQTT-3.3.1-4].
      const bytes = Buffer.from(valid);
      const flags = valid[0]! & 0x0f;
      bytes[0] = (valid[0]! & 0xf0) | ((flags + rng.int(1, 15)) % 16);
      return { bytes, announcedLength: body.length };
    }
    case 'truncate':
      return { bytes: Buffer.from(valid.subarray(0, rng.int(1, valid.length - 1))), announcedLength: body.length };
    case 'wrong-length': {
      let length = rng.int(0, body.length * 2 + 16);
      if (length === body.length) length += 1;
      return withLength(length);
    }
    case 'huge-length':
      // The server should not wait for, or buffer, what no packet it accepts could be.
      return withLength(logInt(rng, Math.max(body.length + 1, 16_384), MAX_REMAINING_LENGTH));
    case 'overlong-length': {
      // Five length bytes: the fourth still says "more follows", which [MQTT-2.2.3] does not allow.
      const length = Buffer.from([0x80 | rng.int(0, 127), 0x80 | rng.int(0, 127), 0x80 | rng.int(0, 127), 0x80 | rng.int(0, 127), rng.int(0, 255)]);
      return { bytes: Buffer.concat([valid.subarray(0, 1), length, body]) };
    }
    case 'splice-junk': {
      // Bytes inside the packet, not announced by its length: the parser is left mid-stream.
      const at = rng.int(header, valid.length);
      return { bytes: Buffer.concat([valid.subarray(0, at), randomBytes(rng, rng.int(1, 32)), valid.subarray(at)]), announcedLength: body.length };
    }
  }
}

/** One packet of a random kind (or `kind`), mutated by a random mutation (or `mutation`). */
export function frame(rng: Rng, identities: FuzzIdentities, choose: { kind?: PacketKind; mutation?: Mutation; mutationShare?: number } = {}): Frame {
  const kind = choose.kind ?? pick(rng, PACKET_KINDS);
  const valid = validPacket(rng, kind, identities);
  const mutation = choose.mutation ?? (chance(rng, choose.mutationShare ?? 0.5) ? pick(rng, MUTATIONS.slice(1)) : 'none');
  const { bytes, announcedLength } = mutate(rng, valid, mutation);
  return { kind, mutation, bytes, valid, ...(announcedLength !== undefined ? { announcedLength } : {}) };
}
