import { describe, expect, it } from 'vitest';
import { parser, type Packet } from 'mqtt-packet';
import { createRng } from '../../../simulators/prng.js';
import { decodeLength, encodeLength, frame, MAX_REMAINING_LENGTH, mutate, MUTATIONS, PACKET_KINDS, validPacket, type PacketKind } from '../../../bench/fuzz/packets.js';
import { describePlan, planConnection } from '../../../bench/fuzz/plan.js';

const identities = { registered: ['good-device', 'other-device'] };

/** Every packet mqtt-packet's parser (aedes' parser) reads from `bytes`, or the error it stopped at. */
function parse(bytes: Buffer): { packets: Packet[]; error?: Error } {
  const result: { packets: Packet[]; error?: Error } = { packets: [] };
  const p = parser({ protocolVersion: 4 });
  p.on('packet', (packet: Packet) => result.packets.push(packet));
  p.on('error', (error: Error) => (result.error ??= error));
  p.parse(bytes);
  return result;
}

// Control packet type in the high nibble [MQTT-2.2.1]; the PUBLISH kinds also fix the QoS bits.
const TYPE_OF: Record<PacketKind, number> = {
  reserved0: 0,
  connect: 1,
  connack: 2,
  publish0: 3,
  publish1: 3,
  publish2: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  reserved15: 15,
};

const headerLength = (bytes: Buffer): number => 1 + decodeLength(bytes)!.bytes;

describe('fuzz packet generator', () => {
  it('gives the same bytes for the same seed, and others for another seed', () => {
    const run = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 200 }, () => frame(rng, identities).bytes.toString('hex'));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    expect(describePlan(planConnection(7, 3, 120, identities))).toBe(describePlan(planConnection(7, 3, 120, identities)));
    expect(describePlan(planConnection(7, 3, 120, identities))).not.toBe(describePlan(planConnection(7, 3, 121, identities)));
    expect(describePlan(planConnection(7, 3, 120, identities))).not.toBe(describePlan(planConnection(7, 4, 120, identities)));
  });

  it('reaches every packet type, including the reserved ones, and every mutation', () => {
    const rng = createRng(1);
    const kinds = new Set<string>();
    const mutations = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const f = frame(rng, identities);
      kinds.add(f.kind);
      mutations.add(f.mutation);
    }
    expect([...kinds].sort()).toEqual([...PACKET_KINDS].sort());
    expect([...mutations].sort()).toEqual([...MUTATIONS].sort());
  });

  it.each(PACKET_KINDS.filter((kind) => kind !== 'connect'))('builds a well-formed %s that parses back as one', (kind) => {
    const rng = createRng(11);
    for (let i = 0; i < 100; i++) {
      const bytes = validPacket(rng, kind, identities);
      expect(bytes[0]! >> 4).toBe(TYPE_OF[kind]);
      expect(decodeLength(bytes)!.length).toBe(bytes.length - headerLength(bytes));
      if (kind === 'reserved0' || kind === 'reserved15') continue;
      const { packets, error } = parse(bytes);
      // Granted QoS values are drawn from 0..255 now and then: random fields, not only the allowed ones.
      if (kind === 'suback' && error?.message.includes('suback QoS')) continue;
      expect(error, `${kind} ${bytes.toString('hex').slice(0, 80)}`).toBeUndefined();
      expect(packets).toHaveLength(1);
      expect(packets[0]!.cmd).toBe(kind.startsWith('publish') ? 'publish' : kind);
      if (kind.startsWith('publish')) expect((packets[0] as { qos: number }).qos).toBe(Number(kind.slice(-1)));
    }
  });

  it('builds CONNECTs that parse unless a field was set outside what 3.1.1 allows', () => {
    const rng = createRng(12);
    let parsed = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = validPacket(rng, 'connect', identities);
      expect(bytes[0]).toBe(0x10);
      expect(decodeLength(bytes)!.length).toBe(bytes.length - headerLength(bytes));
      const nameLength = bytes.readUInt16BE(headerLength(bytes));
      const name = bytes.subarray(headerLength(bytes) + 2, headerLength(bytes) + 2 + nameLength).toString();
      expect(['MQTT', 'MQIsdp']).toContain(name);
      const level = bytes[headerLength(bytes) + 2 + nameLength]!;
      const flags = bytes[headerLength(bytes) + 3 + nameLength]!;
      const { packets, error } = parse(bytes);
      const inSpec = (level === 4 || level === 3) && (flags & 0x01) === 0 && (flags & 0x18) !== 0x18;
      if (inSpec) {
        expect(error, bytes.toString('hex').slice(0, 80)).toBeUndefined();
        expect(packets[0]!.cmd).toBe('connect');
        parsed++;
      }
    }
    expect(parsed).toBeGreaterThan(200);
  });

  it('claims registered ids only with wrong secrets, and uses U+0000 and invalid UTF-8 in strings', () => {
    const rng = createRng(13);
    const seen = { registered: 0, nul: 0, invalidUtf8: 0 };
    for (let i = 0; i < 500; i++) {
      const bytes = validPacket(rng, 'connect', identities);
      const connect = parse(bytes).packets[0] as { username?: string; password?: Buffer; clientId: string } | undefined;
      if (!connect) continue;
      if (connect.username && identities.registered.includes(connect.username)) {
        seen.registered++;
        expect(connect.password?.toString()).not.toBe('the-real-secret');
      }
      if (`${connect.clientId}${connect.username ?? ''}`.includes('\u0000')) seen.nul++;
      // Strings decoded from invalid UTF-8 carry U+FFFD where the bad bytes were.
      if (`${connect.clientId}${connect.username ?? ''}`.includes('\ufffd')) seen.invalidUtf8++;
    }
    expect(seen.registered).toBeGreaterThan(50);
    expect(seen.nul).toBeGreaterThan(0);
    expect(seen.invalidUtf8).toBeGreaterThan(0);
  });

  it('encodes and decodes Remaining Lengths at every width', () => {
    for (const length of [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MAX_REMAINING_LENGTH]) {
      const encoded = encodeLength(length);
      expect(encoded.length).toBe(length < 128 ? 1 : length < 16_384 ? 2 : length < 2_097_152 ? 3 : 4);
      expect(decodeLength(Buffer.concat([Buffer.from([0x30]), encoded]))).toEqual({ length, bytes: encoded.length });
    }
    expect(decodeLength(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toBeUndefined();
  });
});

describe('fuzz mutations', () => {
  const samples = (mutation: (typeof MUTATIONS)[number]) => {
    const rng = createRng(21);
    return Array.from({ length: 300 }, (_, i) => {
      const valid = validPacket(rng, PACKET_KINDS[i % PACKET_KINDS.length]!, identities);
      return { valid, ...mutate(rng, valid, mutation) };
    });
  };

  it('none: the valid packet itself', () => {
    for (const { valid, bytes, announcedLength } of samples('none')) {
      expect(bytes.equals(valid)).toBe(true);
      expect(announcedLength).toBe(valid.length - headerLength(valid));
    }
  });

  it('flip-bits: same length and type, different bytes', () => {
    for (const { valid, bytes } of samples('flip-bits')) {
      expect(bytes.length).toBe(valid.length);
      expect(bytes[0]! >> 4).toBe(valid[0]! >> 4);
      expect(bytes.equals(valid)).toBe(false);
    }
  });

  it('random-flags: only the low nibble of the first byte changes', () => {
    for (const { valid, bytes } of samples('random-flags')) {
      expect(bytes[0]! >> 4).toBe(valid[0]! >> 4);
      expect(bytes[0]! & 0x0f).not.toBe(valid[0]! & 0x0f);
      expect(bytes.subarray(1).equals(valid.subarray(1))).toBe(true);
    }
  });

  it('truncate: a strict, non-empty prefix', () => {
    for (const { valid, bytes } of samples('truncate')) {
      expect(bytes.length).toBeGreaterThan(0);
      expect(bytes.length).toBeLessThan(valid.length);
      expect(valid.subarray(0, bytes.length).equals(bytes)).toBe(true);
    }
  });

  it('wrong-length: announces another length than the body it carries', () => {
    for (const { valid, bytes, announcedLength } of samples('wrong-length')) {
      const header = headerLength(bytes);
      expect(decodeLength(bytes)!.length).toBe(announcedLength);
      expect(announcedLength).not.toBe(bytes.length - header);
      expect(bytes.subarray(header).equals(valid.subarray(headerLength(valid)))).toBe(true);
    }
  });

  it('huge-length: announces up to 268,435,455 bytes, more than it carries', () => {
    let above1MiB = 0;
    for (const { bytes, announcedLength } of samples('huge-length')) {
      expect(decodeLength(bytes)!.length).toBe(announcedLength);
      expect(announcedLength).toBeGreaterThan(bytes.length - headerLength(bytes));
      expect(announcedLength).toBeGreaterThanOrEqual(16_384);
      expect(announcedLength).toBeLessThanOrEqual(MAX_REMAINING_LENGTH);
      if (announcedLength! > 1024 * 1024) above1MiB++;
    }
    expect(above1MiB).toBeGreaterThan(50);
  });

  it('overlong-length: a fifth length byte, which the spec does not allow', () => {
    for (const { valid, bytes, announcedLength } of samples('overlong-length')) {
      expect(bytes[0]).toBe(valid[0]);
      expect([1, 2, 3, 4].every((i) => (bytes[i]! & 0x80) !== 0)).toBe(true);
      expect(decodeLength(bytes)).toBeUndefined();
      expect(announcedLength).toBeUndefined();
      expect(parse(bytes).error).toBeDefined();
    }
  });

  it('splice-junk: bytes inside the packet that its length does not count', () => {
    for (const { valid, bytes, announcedLength } of samples('splice-junk')) {
      const header = headerLength(valid);
      expect(bytes.length).toBeGreaterThan(valid.length);
      expect(bytes.subarray(0, header).equals(valid.subarray(0, header))).toBe(true);
      expect(announcedLength).toBe(valid.length - header);
    }
  });
});

describe('fuzz connection plans', () => {
  it('cuts the pieces into writes without losing or reordering a byte', () => {
    for (let index = 0; index < 300; index++) {
      const plan = planConnection(5, index % 8, index, identities);
      expect(Buffer.concat(plan.writes.map((w) => w.bytes)).equals(Buffer.concat(plan.pieces.map((p) => p.bytes)))).toBe(true);
      expect(plan.writes.reduce((n, w) => n + w.frames.length, 0)).toBe(plan.pieces.filter((p) => p.kind !== 'junk').length);
    }
  });

  it('includes idle sockets, floods behind a huge announced length, CONNECT openers and every ending', () => {
    const plans = Array.from({ length: 2000 }, (_, index) => planConnection(9, 0, index, identities));
    expect(plans.some((plan) => plan.pieces.length === 0 && plan.ending === 'linger')).toBe(true);
    const floods = plans.filter((plan) => plan.floodBytes > 0);
    expect(floods.length).toBeGreaterThan(40);
    for (const plan of floods) expect(plan.pieces.at(-1)).toMatchObject({ mutation: 'huge-length' });
    expect(plans.filter((plan) => plan.pieces[0]?.kind === 'connect').length).toBeGreaterThan(1000);
    expect(new Set(plans.map((plan) => plan.ending))).toEqual(new Set(['destroy', 'end', 'linger']));
    expect(plans.some((plan) => plan.writes.length > 1)).toBe(true);
  });
});
