import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP load balancer, what sits in front of several gateway processes in production (README "Running in
 * production"): it accepts connections on one port and splices each, byte for byte, to one of N upstreams. Used by
 * `sluice bench --gateways N` and by the tests; here, under scripts/, so that both may import it.
 *
 * - Which upstream: the one with the fewest open connections (`least-connections`, the default; ties taken in
 *   turn) or simply the next one (`round-robin`). A connection counts from the moment it is being connected, so a
 *   reconnect storm spreads over the upstreams instead of all landing on the one that was emptiest.
 * - An upstream whose connect fails (refused, or no answer within `connectTimeoutMs`) is skipped for that
 *   connection: the next one is tried, so a device reaches a live gateway after one died. It is then tried last for
 *   `retryAfterMs`, so a storm does not knock on a dead one for every device, and first-class again after that.
 * - Half-close passes through (a FIN from one side ends the other side's writing only, both sockets allow half-open
 *   connections); an error or the close of either side destroys both, and nothing a socket does throws out of here.
 */

export interface Upstream {
  host: string;
  port: number;
}

export type BalancePolicy = 'least-connections' | 'round-robin';

export interface TcpBalancerOptions {
  upstreams: readonly Upstream[];
  /** Where to listen: 127.0.0.1 and a free port by default. */
  host?: string;
  port?: number;
  policy?: BalancePolicy;
  /** A connect that has not succeeded within this counts as failed (default 2,000 ms). */
  connectTimeoutMs?: number;
  /** How long an upstream whose connect failed is tried last (default 1,000 ms). */
  retryAfterMs?: number;
}

/** One upstream's figures, in the order of `options.upstreams`. */
export interface UpstreamCounts {
  /** `host:port`. */
  upstream: string;
  /** Connections through it now (including one being connected). */
  active: number;
  /** Connections it took since the start. */
  total: number;
  /** Connects to it that failed (refused or timed out); each was handed to the next upstream. */
  failed: number;
}

/** One spliced connection: the client's address as the balancer sees it, and the index of its upstream. */
export interface Route {
  remoteAddress: string;
  remotePort: number;
  upstream: number;
}

export interface TcpBalancer {
  host: string;
  port: number;
  counts(): UpstreamCounts[];
  /** The connections spliced now, e.g. to tell which devices sit on which upstream. */
  routes(): Route[];
  /** Client connections that found no upstream (every connect failed) and were closed. */
  readonly unrouted: number;
  /** Stops listening and destroys every connection, both sides. */
  close(): Promise<void>;
}

/** What the choice of an upstream looks at. */
export interface UpstreamLoad {
  active: number;
  /** Epoch ms until which it is tried last (after a failed connect); 0 or past: a normal candidate. */
  downUntil: number;
}

/**
 * The order in which to try the upstreams for one new connection (indexes): those not recently failed first; among
 * them the fewest active connections first (`least-connections`); ties, and every order under `round-robin`, by
 * rotation starting at `turn`.
 */
export function upstreamOrder(loads: readonly UpstreamLoad[], policy: BalancePolicy, turn: number, now: number): number[] {
  const n = loads.length;
  const rotated = Array.from({ length: n }, (_, i) => (((turn + i) % n) + n) % n);
  const down = (i: number): number => (loads[i]!.downUntil > now ? 1 : 0);
  // Array.prototype.sort is stable, so equal candidates keep the rotation.
  return rotated.sort((a, b) => down(a) - down(b) || (policy === 'least-connections' ? loads[a]!.active - loads[b]!.active : 0));
}

interface UpstreamState extends Upstream, UpstreamLoad {
  name: string;
  total: number;
  failed: number;
}

export async function startTcpBalancer(options: TcpBalancerOptions): Promise<TcpBalancer> {
  if (options.upstreams.length === 0) throw new Error('a TCP balancer needs at least one upstream');
  const policy = options.policy ?? 'least-connections';
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const retryAfterMs = options.retryAfterMs ?? 1000;
  const upstreams: UpstreamState[] = options.upstreams.map((u) => ({ host: u.host, port: u.port, name: `${u.host}:${u.port}`, active: 0, downUntil: 0, total: 0, failed: 0 }));
  /** Every socket of ours (clients, upstreams, connects under way), for close(). */
  const sockets = new Set<Socket>();
  const routes = new Map<Socket, Route>();
  let turn = 0;
  let unrouted = 0;
  let closing = false;

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  /** Connects to one upstream; undefined when refused, failed or not connected in time. */
  const connectTo = (target: UpstreamState): Promise<Socket | undefined> =>
    new Promise((resolve) => {
      const socket = connect({ host: target.host, port: target.port, allowHalfOpen: true });
      track(socket);
      const fail = (): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(undefined);
      };
      const timer = setTimeout(fail, connectTimeoutMs);
      socket.once('error', fail);
      // Destroyed while connecting (close()): no error, no connect, only this.
      socket.once('close', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        socket.removeListener('close', fail);
        resolve(socket);
      });
    });

  /** Both directions piped; either side's error or close ends both. */
  const splice = (client: Socket, upstream: Socket, index: number): void => {
    const target = upstreams[index]!;
    routes.set(client, { remoteAddress: client.remoteAddress ?? '', remotePort: client.remotePort ?? 0, upstream: index });
    const destroyBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    client.once('close', destroyBoth);
    upstream.once('close', () => {
      destroyBoth();
      routes.delete(client);
      target.active--;
    });
    // pipe() forwards the end of one side as end() of the other: a half-close, not a close.
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const route = async (client: Socket): Promise<void> => {
    const order = upstreamOrder(upstreams, policy, turn++, Date.now());
    for (const index of order) {
      if (client.destroyed || closing) return;
      const target = upstreams[index]!;
      target.active++;
      const upstream = await connectTo(target);
      if (!upstream) {
        target.active--;
        target.failed++;
        target.downUntil = Date.now() + retryAfterMs;
        continue;
      }
      if (client.destroyed || closing) {
        target.active--;
        upstream.destroy();
        return;
      }
      target.total++;
      target.downUntil = 0;
      splice(client, upstream, index);
      return;
    }
    unrouted++;
    client.destroy();
  };

  // Paused on connect: what the client sends before its upstream is connected waits in the socket.
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    track(client);
    // Until spliced, an error (a reset while connecting upstream) just ends the client.
    client.on('error', () => client.destroy());
    if (closing) {
      client.destroy();
      return;
    }
    void route(client);
  });
  // A server error after listening (none is expected on a bound socket) must not crash the process.
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    counts: () => upstreams.map((u) => ({ upstream: u.name, active: u.active, total: u.total, failed: u.failed })),
    routes: () => [...routes.values()].map((r) => ({ ...r })),
    get unrouted() {
      return unrouted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
