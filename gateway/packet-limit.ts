import type { Client } from 'aedes';

interface LengthParser {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  emit(event: 'error', error: Error): boolean;
}

/**
 * MQTT 3.1.1 allows packets of up to 256 MB and aedes buffers a packet whole before we see it. This
 * checks the Remaining Length as soon as the fixed header is parsed and fails the connection before
 * the body is read, so one device cannot make the gateway hold a huge packet in memory.
 * It hooks mqtt-packet's parser, which aedes keeps per client (`client._parser`).
 */
export function limitPacketSize(client: Client, maxBytes: number, onTooLarge: (length: number) => void): void {
  const parser = (client as unknown as { _parser?: LengthParser })._parser;
  if (!parser || typeof parser._parseLength !== 'function') return;
  const parseLength = parser._parseLength.bind(parser);
  parser._parseLength = () => {
    const complete = parseLength();
    if (complete && parser.packet.length > maxBytes) {
      onTooLarge(parser.packet.length);
      parser.emit('error', new Error(`packet of ${parser.packet.length} bytes exceeds the limit of ${maxBytes} bytes`));
      return false;
    }
    return complete;
  };
}
