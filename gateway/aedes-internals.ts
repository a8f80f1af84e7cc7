import type { Socket } from 'node:net';
import type { Aedes, Client, PublishPacket } from 'aedes';

/**
 * Every place Sluice reaches past aedes' and mqtt-packet's public API, in one module. Each hook was read from
 * aedes 1.2.0 (lib/client.js, lib/handlers/*, aedes.js) and mqtt-packet 9.0.2 (parser.js) and says why no
 * public hook serves. `test/unit/gateway/aedes-internals.test.ts` checks each shape against the installed
 * packages, so an upgrade that moves one fails there, loudly, instead of in a child-process test or in production.
 */

type Done = (error?: Error) => void;
/** aedes' handlers call publish(packet, client, done); its typings know only publish(packet, done). */
type PublishWithClient = (packet: PublishPacket, client: Client | Done | null, done?: Done) => void;

interface ClientInternals {
  conn?: { remoteAddress?: string; _socket?: { remoteAddress?: string }; read?: (size?: number | null) => unknown };
  req?: { socket?: Socket };
  closed?: boolean;
  _disconnected?: boolean;
  _parsingBatch?: number;
  _nextBatch?: () => void;
  _parser?: { packet: { length: number }; _parseLength(): boolean; emit(event: 'error', error: Error): boolean };
}
const internals = (client: Client) => client as unknown as ClientInternals;

/**
 * The peer address. A WebSocket stream has none of its own (we tag it); a TLS socket wrapped by aedes' duplex
 * keeps it on `_socket`. aedes exposes no address.
 */
export function remoteAddressOf(client: Client): string {
  const { conn, req } = internals(client);
  return conn?.remoteAddress ?? conn?._socket?.remoteAddress ?? req?.socket?.remoteAddress ?? 'unknown';
}

/** The client already registered under a client id ([MQTT-3.1.4-2] takeover); aedes keeps them in `broker.clients`. */
export function clientWithId(broker: Aedes, clientId: string): Client | undefined {
  return (broker as unknown as { clients: Record<string, Client | undefined> }).clients[clientId];
}

/**
 * Answers a device's PUBLISH without aedes' routing when `skip` says so. aedes routes every publish (retained
 * store, offline-subscription lookup, topic trie) before the PUBACK, and no option turns that off per topic;
 * the broker's own publishes (no client) always keep the full route.
 */
export function shortCircuitPublish(broker: Aedes, skip: (packet: PublishPacket) => boolean): void {
  const route = (broker.publish as unknown as PublishWithClient).bind(broker);
  (broker as unknown as { publish: PublishWithClient }).publish = (packet, client, done) => {
    if (client && typeof client !== 'function' && done && skip(packet)) return done();
    route(packet, client, done);
  };
}

/**
 * Makes the connection read nothing while `paused()` holds: the bytes stay in the socket and kernel buffers
 * (TCP flow control). aedes reads on every 'readable' event and batch end whatever is in flight, and its own
 * pause() loses completions that arrive while paused.
 */
export function gateReads(client: Client, paused: () => boolean): boolean {
  const { conn } = internals(client);
  if (!conn || typeof conn.read !== 'function') return false;
  const read = conn.read.bind(conn);
  conn.read = (size?: number | null) => (paused() ? null : read(size));
  return true;
}

/**
 * Starts aedes' next read batch when none is running: after a pause, with no publish in flight whose
 * completion would read next, nothing else would. aedes has no public "resume reading".
 */
export function readNextBatchIfIdle(client: Client): void {
  const state = internals(client);
  if (!state.closed && (state._parsingBatch ?? 0) <= 0) state._nextBatch?.();
}

/** aedes marks a client closed before its socket is gone; a login that waited is then dropped. */
export function isClosed(client: Client): boolean {
  return internals(client).closed === true;
}

/** True when the device sent DISCONNECT; aedes tells a clean close from a lost one only by this flag. */
export function disconnectedCleanly(client: Client): boolean {
  return internals(client)._disconnected === true;
}

/**
 * Checks each packet's Remaining Length as soon as its fixed header is parsed and fails the connection before
 * the body is read: aedes buffers a packet whole (MQTT allows 256 MB) before any hook sees it. Hooks
 * mqtt-packet's parser, which aedes keeps per client (`client._parser`). Installed on accept, before the first
 * byte: `limitFor` answers per packet, so the limit can change when the device logs in.
 */
export function limitPacketSize(client: Client, limitFor: () => number, onTooLarge: (length: number, limit: number) => void): boolean {
  const parser = internals(client)._parser;
  if (!parser || typeof parser._parseLength !== 'function') return false;
  const parseLength = parser._parseLength.bind(parser);
  parser._parseLength = () => {
    const complete = parseLength();
    const limit = limitFor();
    if (complete && parser.packet.length > limit) {
      onTooLarge(parser.packet.length, limit);
      parser.emit('error', new Error(`packet of ${parser.packet.length} bytes exceeds the limit of ${limit} bytes`));
      return false;
    }
    return complete;
  };
  return true;
}
