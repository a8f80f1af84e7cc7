/**
 * Drives N raw TCP sockets at an MQTT listener for a bounded time. Each socket (a lane) plays one planned
 * connection after another; the gateway closing a connection is the expected answer to most of them, so it
 * is counted, never treated as a failure. What would be a failure is reported as figures for the caller
 * to judge: refused connections (the listener is gone), and any CONNACK 0 (a fuzz socket got in).
 * runner-thread.ts runs it in a worker thread of its own (messages in runner-protocol.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { parser as mqttParser, type Packet } from 'mqtt-packet';
import { planConnection, type ConnectionPlan } from './plan.js';
import type { FuzzIdentities } from './packets.js';

export interface FuzzRunOptions {
  host: string;
  port: number;
  sockets: number;
  durationMs: number;
  seed: number;
  identities: FuzzIdentities;
  signal?: AbortSignal;
  onProgress?: (figures: FuzzFigures) => void;
  progressEveryMs?: number;
  connectTimeoutMs?: number;
}

export interface FuzzFigures {
  elapsedMs: number;
  connectionsOpened: number;
  /** Connections that never opened (refused, timed out, no local port). */
  connectFailures: number;
  /** The gateway closed or reset the connection before the plan was done with it. */
  closedByServer: number;
  closedByUs: number;
  packetsSent: number;
  bytesSent: number;
  packetsByKind: Record<string, number>;
  packetsByMutation: Record<string, number>;
  floods: number;
  /** Floods whose connection the gateway closed rather than the fuzz (kernel buffers may take them whole first). */
  floodsClosedByServer: number;
  /** Packets the gateway sent back, by type. */
  responses: Record<string, number>;
  connackCodes: Record<string, number>;
  /** Connections (lane:index) that received CONNACK 0: none should, no fuzz socket has a real secret. */
  acceptedBy: string[];
  /** Answers from the gateway that did not parse as MQTT. */
  unparseableResponses: number;
  errors: Record<string, number>;
  /** Connections (lane:index) started last before the first refused connect: where a crash would be. */
  recentAtFirstRefusal?: string[];
}

const FLOOD_CHUNK = Buffer.alloc(64 * 1024, 0x41);
const CONNECT_FAILURE_BACKOFF_MS = 100;

function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

export function emptyFigures(): FuzzFigures {
  return {
    elapsedMs: 0,
    connectionsOpened: 0,
    connectFailures: 0,
    closedByServer: 0,
    closedByUs: 0,
    packetsSent: 0,
    bytesSent: 0,
    packetsByKind: {},
    packetsByMutation: {},
    floods: 0,
    floodsClosedByServer: 0,
    responses: {},
    connackCodes: {},
    acceptedBy: [],
    unparseableResponses: 0,
    errors: {},
  };
}

interface Live {
  name: string;
  /** Ends whatever the connection is waiting for (a pause, a drain, a linger). */
  wake(): void;
  socket: Socket;
}

export async function runFuzz(options: FuzzRunOptions): Promise<FuzzFigures> {
  const figures = emptyFigures();
  const started = Date.now();
  const live = new Set<Live>();
  // The last connections started, across lanes: enough to cover every lane's current and previous one.
  const recent: string[] = [];
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    for (const connection of live) connection.wake();
  };
  const deadline = setTimeout(stop, options.durationMs);
  options.signal?.addEventListener('abort', stop, { once: true });
  const progress = options.onProgress
    ? setInterval(() => options.onProgress!(snapshot()), options.progressEveryMs ?? 5000)
    : undefined;

  function snapshot(): FuzzFigures {
    return structuredClone({ ...figures, elapsedMs: Date.now() - started });
  }

  function play(plan: ConnectionPlan): Promise<void> {
    const name = `${plan.lane}:${plan.index}`;
    recent.push(name);
    if (recent.length > options.sockets * 2) recent.shift();
    return new Promise((resolve) => {
      const socket = netConnect({ host: options.host, port: options.port });
      let opened = false;
      let ours = false;
      let byServer = false;
      let wakeUp: (() => void) | undefined;
      const connection: Live = { name, socket, wake: () => wakeUp?.() };
      live.add(connection);
      // Resolves early when the socket closes or the run stops, so no wait outlives its connection.
      const wait = (arm: (done: () => void) => void): Promise<void> =>
        new Promise((done) => {
          if (socket.destroyed || stopped) return done();
          wakeUp = done;
          arm(done);
        });
      const pause = (ms: number): Promise<void> => {
        let timer: NodeJS.Timeout | undefined;
        return wait((done) => (timer = setTimeout(done, ms))).finally(() => clearTimeout(timer));
      };
      let responses: ReturnType<typeof mqttParser> | undefined;
      // Only until the connection opens: after that, waiting on the gateway is what the plan does.
      socket.setTimeout(options.connectTimeoutMs ?? 10_000, () => {
        if (opened) return;
        bump(figures.errors, 'connect-timeout');
        figures.connectFailures++;
        socket.destroy();
      });
      socket.on('data', (chunk: Buffer) => {
        if (!responses) {
          responses = mqttParser({ protocolVersion: 4 });
          responses.on('packet', (packet: Packet) => {
            bump(figures.responses, packet.cmd);
            if (packet.cmd === 'connack') {
              bump(figures.connackCodes, String(packet.returnCode));
              if (packet.returnCode === 0) figures.acceptedBy.push(name);
            }
          });
          responses.on('error', () => {
            figures.unparseableResponses++;
            ours = true;
            socket.destroy();
          });
        }
        responses.parse(chunk);
      });
      socket.on('end', () => {
        if (!ours) byServer = true;
        socket.destroy();
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? 'error';
        if (!opened) {
          figures.connectFailures++;
          bump(figures.errors, code);
          if (code === 'ECONNREFUSED' && figures.recentAtFirstRefusal === undefined) figures.recentAtFirstRefusal = [...recent];
        } else if (code === 'ECONNRESET' || code === 'EPIPE') {
          if (!ours) byServer = true;
        } else {
          bump(figures.errors, code);
        }
      });
      socket.once('close', () => {
        live.delete(connection);
        wakeUp?.();
        figures.bytesSent += socket.bytesWritten;
        if (opened) {
          if (byServer) figures.closedByServer++;
          else figures.closedByUs++;
          if (byServer && plan.floodBytes > 0) figures.floodsClosedByServer++;
        }
        // A listener that refuses or a machine out of ports: do not spin on it.
        if (!opened) setTimeout(resolve, CONNECT_FAILURE_BACKOFF_MS);
        else resolve();
      });
      socket.once('connect', () => {
        opened = true;
        figures.connectionsOpened++;
        socket.setTimeout(0);
        void drive(plan, socket, pause, wait).then(async () => {
          if (socket.destroyed) return;
          if (plan.ending === 'destroy' || stopped) {
            ours = true;
            socket.destroy();
            return;
          }
          if (plan.ending === 'end') {
            ours = true;
            socket.end();
          }
          await pause(plan.lingerMs);
          ours = true;
          socket.destroy();
        });
      });
    });
  }

  async function drive(plan: ConnectionPlan, socket: Socket, pause: (ms: number) => Promise<void>, wait: (arm: (done: () => void) => void) => Promise<void>): Promise<void> {
    const room = (): Promise<void> => wait((done) => socket.once('drain', done));
    for (const write of plan.writes) {
      if (write.pauseMs > 0) await pause(write.pauseMs);
      if (socket.destroyed || stopped) return;
      const flowing = socket.write(write.bytes);
      for (const frame of write.frames) {
        figures.packetsSent++;
        bump(figures.packetsByKind, frame.kind);
        bump(figures.packetsByMutation, frame.mutation);
      }
      if (!flowing) await room();
    }
    if (plan.floodBytes === 0) return;
    figures.floods++;
    for (let left = plan.floodBytes; left > 0; left -= FLOOD_CHUNK.length) {
      if (socket.destroyed || stopped) return;
      if (!socket.write(left >= FLOOD_CHUNK.length ? FLOOD_CHUNK : FLOOD_CHUNK.subarray(0, left))) await room();
    }
  }

  async function lane(index: number): Promise<void> {
    for (let n = 0; !stopped; n++) await play(planConnection(options.seed, index, n, options.identities));
  }

  try {
    await Promise.all(Array.from({ length: options.sockets }, (_, index) => lane(index)));
  } finally {
    clearTimeout(deadline);
    clearInterval(progress);
    options.signal?.removeEventListener('abort', stop);
  }
  return snapshot();
}
