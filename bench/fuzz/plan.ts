/**
 * What one fuzz connection does, decided before it opens: which packets, cut into which writes, and how it
 * ends. Pure and keyed by (seed, lane, index), so any connection of a run can be printed again byte for byte
 * (`sluice fuzz --dump`) without the server that saw it.
 */
import { createRng, hash32, type Rng } from '../../simulators/prng.js';
import { frame, logInt, randomBytes, type Frame, type FuzzIdentities } from './packets.js';

export interface Junk {
  kind: 'junk';
  bytes: Buffer;
}
export type Piece = Frame | Junk;

export type Ending = 'destroy' | 'end' | 'linger';

export interface Write {
  bytes: Buffer;
  /** Pause before this write: packets split across TCP segments exercise the parser's reassembly. */
  pauseMs: number;
  /** Packets whose last byte is in this write. */
  frames: Frame[];
}

export interface ConnectionPlan {
  lane: number;
  index: number;
  pieces: Piece[];
  writes: Write[];
  /** Filler streamed after the writes, behind a packet that announced a huge length. */
  floodBytes: number;
  /** After the writes: close at once, half-close and wait for the server, or just wait for it. */
  ending: Ending;
  /** Longest wait for the server to close before closing ourselves (for 'end' and 'linger'). */
  lingerMs: number;
}

const MiB = 1024 * 1024;

export function planConnection(seed: number, lane: number, index: number, identities: FuzzIdentities): ConnectionPlan {
  const rng = createRng(hash32(seed, lane, index));
  const pieces: Piece[] = [];
  let floodBytes = 0;
  const style = rng.next();
  if (style < 0.03) {
    // Connects and says nothing: an idle unauthenticated socket the gateway should drop on its own.
  } else if (style < 0.08) {
    // Announces a packet far larger than any the gateway accepts and keeps sending it.
    if (rng.next() < 0.5) pieces.push(frame(rng, identities, { kind: 'connect', mutation: 'none' }));
    pieces.push(frame(rng, identities, { kind: rng.next() < 0.5 ? 'connect' : 'publish1', mutation: 'huge-length' }));
    floodBytes = logInt(rng, 64 * 1024, 4 * MiB);
  } else {
    // Most connections open with a CONNECT, as the first packet must be one [MQTT-3.1.0-1]; only then
    // does the gateway read further, so the rest of the packets reach the code behind authentication.
    const opening = rng.next();
    if (opening < 0.6) pieces.push(frame(rng, identities, { kind: 'connect', mutationShare: 0.3 }));
    else if (opening < 0.85) pieces.push(frame(rng, identities));
    else pieces.push(junk(rng));
    for (let n = rng.int(0, 12); n > 0; n--) {
      if (rng.next() < 0.15) pieces.push(junk(rng));
      pieces.push(frame(rng, identities, { mutationShare: 0.4 }));
    }
  }
  const endingDraw = rng.next();
  const ending: Ending = endingDraw < 0.45 ? 'destroy' : endingDraw < 0.65 ? 'end' : 'linger';
  // Mostly short waits; a few long enough to meet the gateway's idle and keepalive timeouts.
  const lingerMs = rng.next() < 0.85 ? logInt(rng, 20, 2000) : logInt(rng, 2000, 15_000);
  return { lane, index, pieces, writes: cut(rng, pieces), floodBytes, ending: pieces.length === 0 ? 'linger' : ending, lingerMs };
}

function junk(rng: Rng): Junk {
  return { kind: 'junk', bytes: randomBytes(rng, logInt(rng, 1, 256)) };
}

function cut(rng: Rng, pieces: Piece[]): Write[] {
  const all = Buffer.concat(pieces.map((piece) => piece.bytes));
  if (all.length === 0) return [];
  // Where each packet ends, to count packets as their last byte goes out.
  const packetEnds: { at: number; frame: Frame }[] = [];
  let offset = 0;
  for (const piece of pieces) {
    offset += piece.bytes.length;
    if (piece.kind !== 'junk') packetEnds.push({ at: offset, frame: piece });
  }
  const cuts = new Set<number>([all.length]);
  if (rng.next() < 0.4) {
    for (let n = logInt(rng, 1, 64); n > 0; n--) cuts.add(rng.int(1, all.length));
  }
  // Now and then a trickle: pauses long enough to hold a half-sent packet in the gateway for a while.
  const slow = rng.next() < 0.05;
  const writes: Write[] = [];
  let start = 0;
  for (const end of [...cuts].sort((a, b) => a - b)) {
    writes.push({
      bytes: all.subarray(start, end),
      pauseMs: start === 0 ? 0 : slow ? logInt(rng, 50, 1000) : rng.next() < 0.5 ? 0 : logInt(rng, 1, 30),
      frames: packetEnds.filter(({ at }) => at > start && at <= end).map(({ frame }) => frame),
    });
    start = end;
  }
  return writes;
}

/** A plan as text: every piece in hex, then how it is written and ended; enough to replay it with `nc`. */
export function describePlan(plan: ConnectionPlan): string {
  const lines = [`# connection ${plan.lane}:${plan.index}: ${plan.pieces.length} pieces, ${plan.writes.length} writes, ending ${plan.ending} (linger ${plan.lingerMs} ms)${plan.floodBytes > 0 ? `, then ${plan.floodBytes} filler bytes (0x41)` : ''}`];
  plan.pieces.forEach((piece, i) => {
    const what = piece.kind === 'junk' ? 'junk' : `${piece.kind} ${piece.mutation}${piece.announcedLength !== undefined ? ` announcing ${piece.announcedLength}` : ''}`;
    lines.push(`# piece ${i}: ${what}, ${piece.bytes.length} bytes`, piece.bytes.toString('hex'));
  });
  lines.push(`# writes (bytes after pause ms): ${plan.writes.map((w) => `${w.bytes.length}@${w.pauseMs}`).join(' ')}`);
  return lines.join('\n');
}
