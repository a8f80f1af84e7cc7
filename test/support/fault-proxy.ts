import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ProxyAnswer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Lines to pass on to the real store before answering (InfluxDB writes the good points of a 400). */
  forwardLines?: string[];
}

export type WriteRule = (lines: string[]) => ProxyAnswer | 'forward';

export interface FaultProxy {
  url: string;
  setRule(rule: WriteRule): void;
  /** Holds every forwarded write this long first: a slow store, so a writer can be caught mid-stream. */
  setWriteDelay(ms: number): void;
  requests: { status: number; lines: number }[];
  /**
   * Every write the store accepted, as the writer sent it: its `precision` query parameter and its lines. What
   * the store received at the precision it received it, for stores (VictoriaMetrics) that keep less than ns.
   */
  accepted: { precision: string | null; lines: string[] }[];
  close(): Promise<void>;
}

/**
 * Sits in front of a real store and answers writes the way InfluxDB does when it refuses points,
 * throttles or rejects a token, which VictoriaMetrics itself never does. Everything else is forwarded.
 */
export async function startFaultProxy(targetUrl: string): Promise<FaultProxy> {
  let rule: WriteRule = () => 'forward';
  let writeDelayMs = 0;
  const requests: { status: number; lines: number }[] = [];
  const accepted: FaultProxy['accepted'] = [];

  async function readBody(request: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    // The client library gzips larger writes; the rules look at plain lines and we forward plain lines.
    const raw = Buffer.concat(chunks);
    return request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
  }

  async function forward(request: IncomingMessage, body: Buffer | string): Promise<Response> {
    return fetch(new URL(request.url ?? '/', targetUrl), {
      method: request.method ?? 'GET',
      headers: { 'content-type': request.headers['content-type'] ?? 'text/plain' },
      ...(request.method === 'GET' || request.method === 'HEAD' ? {} : { body }),
    });
  }

  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      if (request.url?.startsWith('/api/v2/write')) {
        const lines = body.toString('utf8').split('\n').filter((l) => l.length > 0);
        const answer = rule(lines);
        if (answer !== 'forward') {
          if (answer.forwardLines && answer.forwardLines.length > 0) await forward(request, answer.forwardLines.join('\n'));
          requests.push({ status: answer.status, lines: lines.length });
          response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(answer.body ?? '');
          return;
        }
      }
      if (writeDelayMs > 0 && request.url?.startsWith('/api/v2/write')) await new Promise((resolve) => setTimeout(resolve, writeDelayMs));
      const upstream = await forward(request, body);
      requests.push({ status: upstream.status, lines: 0 });
      if (request.url?.startsWith('/api/v2/write') && upstream.ok) {
        const url = new URL(request.url, 'http://proxy');
        accepted.push({ precision: url.searchParams.get('precision'), lines: body.toString('utf8').split('\n').filter((l) => l.length > 0) });
      }
      response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' }).end(Buffer.from(await upstream.arrayBuffer()));
    })().catch((error: unknown) => {
      response.writeHead(502).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setRule(next) {
      rule = next;
    },
    setWriteDelay(ms) {
      writeDelayMs = ms;
    },
    requests,
    accepted,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
