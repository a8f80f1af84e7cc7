/**
 * Kafka's Java client partitions keyed records with murmur2 (seed 0x9747b28c) over the UTF-8 key,
 * masked positive, modulo the partition count. The embedded queue uses the same function so a device
 * lands in the same partition number in both ways of running, and any Kafka client agrees with us.
 */
export function murmur2(key: string | Buffer): number {
  const data = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const length = data.length;
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = seed ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k = (data[i4]! & 0xff) | ((data[i4 + 1]! & 0xff) << 8) | ((data[i4 + 2]! & 0xff) << 16) | ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length4 << 2;
  const remaining = length % 4;
  if (remaining === 3) h ^= (data[tail + 2]! & 0xff) << 16;
  if (remaining >= 2) h ^= (data[tail + 1]! & 0xff) << 8;
  if (remaining >= 1) {
    h ^= data[tail]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Java's `Utils.toPositive(murmur2(key)) % numPartitions`. */
export function partitionForKey(key: string, partitions: number): number {
  return (cachedMurmur2(key) & 0x7fffffff) % partitions;
}

/**
 * Keys are device ids, and a device sends many records: its hash is computed once, not per record. The cache is
 * dropped whole when it fills, which keeps it bounded whatever the fleet size without tracking recency.
 */
const hashes = new Map<string, number>();
const MAX_CACHED_HASHES = 100_000;

export function cachedMurmur2(key: string): number {
  let hash = hashes.get(key);
  if (hash === undefined) {
    if (hashes.size >= MAX_CACHED_HASHES) hashes.clear();
    hash = murmur2(key);
    hashes.set(key, hash);
  }
  return hash;
}
