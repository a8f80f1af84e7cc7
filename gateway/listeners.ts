import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Aedes, Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { GatewayContext } from './context.js';

export interface Listeners {
  listen(): Promise<{ port: number; wsPort?: number; tlsPort?: number }>;
  listening(): boolean;
  close(): void;
}

type Accept = (socket: Socket | NodeJS.ReadWriteStream, peerAddress: string, handle: () => Client) => void;

/** MQTT over TCP, over WebSocket (`/mqtt`) and, with a certificate, over TLS; every connection goes through `accept`. */
export function createListeners(broker: Aedes, context: GatewayContext, accept: Accept): Listeners {
  const { options, metrics } = context;
  const servers: (NetServer | HttpServer)[] = [];
  let wss: WebSocketServer | undefined;

  function listenOn(server: NetServer | HttpServer, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, options.host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  async function listenWebSocket(port: number): Promise<number> {
    const http = createHttpServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt with the "mqtt" subprotocol\n');
    });
    // An upgrade request that never completes is an unauthenticated connection too.
    http.headersTimeout = options.connectTimeoutMs;
    http.requestTimeout = options.connectTimeoutMs;
    wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: options.maxPacketBytes + 16, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
    wss.on('connection', (socket, request) => {
      const stream = createWebSocketStream(socket);
      stream.on('error', () => socket.terminate());
      (stream as unknown as { remoteAddress?: string }).remoteAddress = request.socket.remoteAddress;
      (stream as unknown as { sluiceTransport: string }).sluiceTransport = 'ws';
      accept(stream, request.socket.remoteAddress ?? 'unknown', () => broker.handle(stream, request));
    });
    servers.push(http);
    return listenOn(http, port);
  }

  async function listenTls(tlsOptions: NonNullable<typeof options.tls>): Promise<number> {
    const tls = createTlsServer(
      {
        cert: readFileSync(tlsOptions.cert),
        key: readFileSync(tlsOptions.key),
        handshakeTimeout: options.connectTimeoutMs,
        ...(tlsOptions.ca
          ? // Certificates are optional: a device may still use its secret. A presented certificate must verify.
            { ca: readFileSync(tlsOptions.ca), requestCert: true, rejectUnauthorized: false }
          : {}),
      },
      (socket) => {
        if (tlsOptions.ca && socket.authorizationError && socket.getPeerCertificate()?.subject) {
          metrics.mqttAuthFailures.inc({ reason: 'bad-certificate' });
          context.countRefusal('bad-certificate', { remoteAddress: socket.remoteAddress, detail: String(socket.authorizationError) });
          socket.destroy();
          return;
        }
        accept(socket, socket.remoteAddress ?? 'unknown', () => broker.handle(socket));
      },
    );
    servers.push(tls);
    return listenOn(tls, tlsOptions.port);
  }

  return {
    async listen() {
      const tcp = createNetServer({ noDelay: true }, (socket) => accept(socket, socket.remoteAddress ?? 'unknown', () => broker.handle(socket)));
      servers.push(tcp);
      const result: { port: number; wsPort?: number; tlsPort?: number } = { port: await listenOn(tcp, options.port) };
      if (options.wsPort !== undefined) result.wsPort = await listenWebSocket(options.wsPort);
      if (options.tls) result.tlsPort = await listenTls(options.tls);
      return result;
    },
    listening: () => servers.length > 0 && servers.every((server) => server.listening),
    close() {
      for (const server of servers) server.close();
      wss?.close();
    },
  };
}
