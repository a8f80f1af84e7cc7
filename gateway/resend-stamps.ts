import { hash } from 'node:crypto';

/**
 * The receive stamp of a QoS 1 resend (README "Guarantees": a gateway that dies). A device that saw no PUBACK
 * publishes again with DUP=1 and the same packet id; when this gateway process already stamped that publish
 * (same client id, packet id, topic and payload), the resend gets the first stamp, so its readings without a device
 * time are the same points and not second ones a little later.
 *
 * Bounded: per client the latest `maxPerClient` packet ids (a device has at most its in-flight window of
 * unacknowledged publishes, and MQTT 3.1.1 reuses an id only once it is acknowledged), and at most `maxClients`
 * clients, the one met longest ago forgotten first. A resend that was forgotten, or arrives at another gateway
 * process or after a restart, is stamped anew — what the README says remains. Only a DUP=1 publish can
 * reuse a stamp: a DUP=0 publish with a known packet id is a new message and replaces the entry.
 */
export interface ResendStamps {
  /** The stamp for this publish: the remembered one for a matching resend, else `fresh()`, remembered. */
  stampOf(publish: ResendKey, fresh: () => bigint): bigint;
  forgetClient(clientId: string): void;
  size(): number;
}

export interface ResendKey {
  clientId: string;
  messageId?: number | undefined;
  dup?: boolean | undefined;
  qos: number;
  topic: string;
  payload: Buffer;
}

/** SHA-1 of the payload, the bytes kept per packet id. */
const DIGEST_BYTES = 20;
const EMPTY = -1;

/**
 * One client's latest packet ids, in fixed typed arrays written in a ring: remembering a publish allocates nothing
 * that lives on. A map entry object per publish, promoted and dropped a second later, was measured as old-generation
 * garbage on the hot path (higher PUBACK p99 at saturation).
 */
interface ClientRing {
  ids: Int32Array;
  topicHashes: Int32Array;
  digests: Uint8Array;
  stamps: BigInt64Array;
  next: number;
}

function createRing(size: number): ClientRing {
  return { ids: new Int32Array(size).fill(EMPTY), topicHashes: new Int32Array(size), digests: new Uint8Array(size * DIGEST_BYTES), stamps: new BigInt64Array(size), next: 0 };
}

/** FNV-1a over the topic's UTF-16 code units: the topic is checked beside the payload digest without keeping the string. */
function topicHash(topic: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) h = Math.imul(h ^ topic.charCodeAt(i), 0x01000193);
  return h | 0;
}

export function createResendStamps(options: { maxPerClient: number; maxClients: number }): ResendStamps {
  const clients = new Map<string, ClientRing>();

  function ringOf(clientId: string): ClientRing {
    let ring = clients.get(clientId);
    if (ring) return ring;
    // Oldest first out: a client let go of that publishes again comes back at the end. Not moved on every publish
    // (a strict LRU): the delete and re-insert per publish was measured on the hot path.
    ring = createRing(options.maxPerClient);
    if (clients.size >= options.maxClients) clients.delete(clients.keys().next().value!);
    clients.set(clientId, ring);
    return ring;
  }

  return {
    stampOf(publish, fresh) {
      if (publish.qos !== 1 || publish.messageId === undefined) return fresh();
      const ring = ringOf(publish.clientId);
      // Topic and payload both: a resend is byte-for-byte the same message (MQTT 3.1.1 §4.3.2).
      const digest = hash('sha1', publish.payload, 'buffer');
      const topic = topicHash(publish.topic);
      let slot = ring.ids.indexOf(publish.messageId);
      if (slot >= 0) {
        const known = ring.digests.subarray(slot * DIGEST_BYTES, (slot + 1) * DIGEST_BYTES);
        if (publish.dup === true && ring.topicHashes[slot] === topic && digest.equals(known)) return ring.stamps[slot]!;
      } else {
        slot = ring.next;
        ring.next = (ring.next + 1) % ring.ids.length;
      }
      const stamp = fresh();
      ring.ids[slot] = publish.messageId;
      ring.topicHashes[slot] = topic;
      ring.digests.set(digest, slot * DIGEST_BYTES);
      ring.stamps[slot] = stamp;
      return stamp;
    },
    forgetClient: (clientId) => void clients.delete(clientId),
    size: () => clients.size,
  };
}
