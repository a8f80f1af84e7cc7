/**
 * A forward sink's server run privately for a test or `sluice bench --sink` (docs/contracts.md §15, §16): on free
 * ports, with its data in a directory of its own, so stopping it never touches a server another run uses.
 */
import type { ForwardSinkName } from '../../core/seams.js';

export interface ForwardedMessage {
  /** The message body as the server holds it: the reading as JSON. */
  body: Buffer;
  /** The routing key (RabbitMQ), partition key (Kinesis) or message key (Pulsar). */
  key?: string;
  /** The reading id the message carries where the server has a field for it (RabbitMQ message-id, a Pulsar property). */
  id?: string;
  /** Epoch ms when the consumer got it: publish→sink latency in the bench. */
  arrivedAt: number;
}

export interface PrivateSinkServer {
  readonly sink: ForwardSinkName;
  /** The environment that points Sluice's forwarder at this server and its target (a stream, queue or topic of its own). */
  readonly env: Readonly<Record<string, string>>;
  /** Stops the server as an outage would, keeping its data; resolves once it no longer answers. */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same data; resolves once it answers. */
  start(): Promise<void>;
  /**
   * Reads the target from its beginning and then live, in the server's order (per device: the order the sink wrote),
   * calling `onMessage` for each message; `close` stops reading.
   */
  consume(onMessage: (message: ForwardedMessage) => void): Promise<{ close(): Promise<void> }>;
  /** Stops the server and deletes its data. */
  close(): Promise<void>;
}
