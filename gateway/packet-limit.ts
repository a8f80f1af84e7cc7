import type { Client } from 'aedes';

interface LengthParser {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  emit(event: 'error', error: Error): boolean;
}

/**
 * MQTT 3.1.1 allows packets of up to 256 MB and aedes buffers a packet whole before we see it. This
 * checks the Remaining Length as soon as a fixed header is parsed and fails the connection before the
 * body is read, so no connection can make the gateway hold a huge packet in memory. Installed when the
 * connection is accepted, before its first byte is parsed: `limitFor` answers the CONNECT limit until the
 * device has logged in, the packet limit after.
 * It hooks mqtt-packet's parser, which aedes keeps per client (`client._parser`); read from aedes 1.2 and
 * mqtt-packet 9, where no public hook sees a packet before its body is buffered.
 */
export function limitPacketSize(client: Client, limitFor: () => number, onTooLarge: (length: number, limit: number) => void): boolean {
  const parser = (client as unknown as { _parser?: LengthParser })._parser;
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
