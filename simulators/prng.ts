/**
 * Deterministic randomness for simulated devices. Two tools:
 * - `hash32(...)` / `unitHash(...)`: a stateless integer hash, so a profile can be a pure function of
 *   (seed, device index, time) with no hidden state;
 * - `createRng(seed)`: a small sequential generator (mulberry32) for schedules and jitter.
 * Neither is cryptographic; both give the same numbers for the same inputs on every platform.
 */

/** Mixes 32-bit integers into one well-spread 32-bit unsigned value (murmur3 finalizer per word). */
export function hash32(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const word of words) {
    // Fold numbers beyond 32 bits (epoch milliseconds) in as two words.
    const low = word >>> 0;
    const high = Math.floor(word / 4294967296) >>> 0;
    for (const part of high === 0 ? [low] : [low, high]) {
      let k = Math.imul(part, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in [0, 1) determined by the words alone. */
export function unitHash(...words: number[]): number {
  return hash32(...words) / 4294967296;
}

/** A standard normal number determined by the words alone (Box–Muller over two hashed uniforms). */
export function gaussHash(...words: number[]): number {
  const u1 = Math.max(unitHash(...words, 1), 1e-12);
  const u2 = unitHash(...words, 2);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** Small string → number, so names (salts, profile names) can be hashed together with numbers. */
export function stringWord(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
}

/** mulberry32: a tiny, fast, well-tested 32-bit generator. */
export function createRng(seed: number): Rng {
  let state = hash32(seed) | 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}
