import { hash } from 'node:crypto';

/**
 * The receive stamp of a QoS 1 resend (README "Guarantees": a gateway that dies). A device that saw no PUBACK
 * publishes again with DUP=1 and the same packet id; when this gateway process already stamped that publish
 * (same client id, packet id, topic and payload), the resend gets the first stamp, so its readings without a device
 * time are the same points and not second ones a little later.
 *
 * Bounded: per client the latest `maxPerClient` packet ids (a device has at most its in-flight window of
 * unacknowledged publishes, and MQTT 3.1.1 reuses an id only once it is acknowledged), and at most `maxClients`
 * clients, the least recently publishing forgotten first. A resend that was forgotten, or arrives at another
 * gateway process or after a restart, is stamped anew — what the README says remains. Only a DUP=1 publish can
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

interface Entry {
  digest: string;
  stamp: bigint;
}

export function createResendStamps(options: { maxPerClient: number; maxClients: number }): ResendStamps {
  const clients = new Map<string, Map<number, Entry>>();

  function entriesOf(clientId: string): Map<number, Entry> {
    let entries = clients.get(clientId);
    if (entries) {
      // Most recently publishing last: Map keeps insertion order, so re-inserting is the LRU update.
      clients.delete(clientId);
    } else {
      entries = new Map();
      if (clients.size >= options.maxClients) clients.delete(clients.keys().next().value!);
    }
    clients.set(clientId, entries);
    return entries;
  }

  return {
    stampOf(publish, fresh) {
      if (publish.qos !== 1 || publish.messageId === undefined) return fresh();
      const entries = entriesOf(publish.clientId);
      // Topic and payload both: a resend is byte-for-byte the same message (MQTT 3.1.1 §4.3.2).
      const digest = hash('sha1', Buffer.concat([Buffer.from(`${publish.topic}\u0000`), publish.payload]));
      const known = entries.get(publish.messageId);
      if (publish.dup === true && known?.digest === digest) return known.stamp;
      const stamp = fresh();
      entries.delete(publish.messageId);
      entries.set(publish.messageId, { digest, stamp });
      if (entries.size > options.maxPerClient) entries.delete(entries.keys().next().value!);
      return stamp;
    },
    forgetClient: (clientId) => void clients.delete(clientId),
    size: () => clients.size,
  };
}
