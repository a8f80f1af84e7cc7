/**
 * One fuzz run as `sluice fuzz` and the integration test both do it: memory before, the good device's stream
 * and the fuzz sockets side by side for the duration, then memory after, whether the gateway lives, and the
 * verdict — a list of problems, empty when the gateway held.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FuzzFigures } from './runner.js';
import { runFuzzInThread } from './runner-thread.js';
import { watchRss, type TargetProbe } from './target.js';
import type { GoodDevice, GoodDeviceFigures } from './good-device.js';
import type { FuzzIdentities } from './packets.js';

export interface FuzzSessionOptions {
  host: string;
  port: number;
  sockets: number;
  durationS: number;
  seed: number;
  identities: FuzzIdentities;
  /** Connected by the caller, which also closes it (the test publishes markers after the run). */
  goodDevice?: GoodDevice;
  target: TargetProbe;
  /** The longest time without a PUBACK to the good device before the run counts as a stall. */
  stallMs: number;
  /** Largest growth of the gateway's RSS (peak over before) the run accepts; unchecked when undefined. */
  rssGrowthLimitBytes?: number;
  progressEveryMs?: number;
  signal?: AbortSignal;
}

export interface FuzzReport {
  seed: number;
  target: string;
  sockets: number;
  durationS: number;
  fuzz: FuzzFigures;
  good?: GoodDeviceFigures;
  rss: { beforeBytes?: number; peakBytes?: number; afterBytes?: number };
  /** Event loop delay of the thread that timed the good device: large values would inflate its latencies. */
  harnessLoopDelayMs: { p99: number; max: number };
  /** How the gateway says it refused the fuzz: its refusal counters' growth over the run, by reason. */
  gatewayRefusals?: Record<string, number>;
  alive?: { alive: boolean; detail: string };
  /** Empty when the gateway held: up, bounded, serving the good device, letting no fuzz socket in. */
  problems: string[];
}

const MiB = 1024 * 1024;
const mib = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : `${(bytes / MiB).toFixed(0)} MiB`);

export function progressLine(fuzz: FuzzFigures, good: GoodDeviceFigures | undefined, rss: number | undefined): string {
  const parts = [
    `${(fuzz.elapsedMs / 1000).toFixed(0)} s`,
    `${fuzz.packetsSent.toLocaleString('en-US')} packets`,
    `${fuzz.connectionsOpened.toLocaleString('en-US')} connections (${fuzz.closedByServer.toLocaleString('en-US')} closed by the gateway)`,
  ];
  if (fuzz.connectFailures > 0) parts.push(`${fuzz.connectFailures} failed to connect`);
  if (good) parts.push(`good device ${good.acked} PUBACKs, p99 ${good.ackP99Ms?.toFixed(1) ?? 'n/a'} ms, longest gap ${good.maxGapMs} ms`);
  if (rss !== undefined) parts.push(`RSS peak ${mib(rss)}`);
  return parts.join(', ');
}

export async function runFuzzSession(options: FuzzSessionOptions, log: (line: string) => void = () => undefined): Promise<FuzzReport> {
  const { target, goodDevice } = options;
  const beforeBytes = await target.rssBytes();
  const refusalsBefore = await target.refusals();
  const rssWatch = watchRss(target, 250, beforeBytes);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  goodDevice?.start();
  let fuzz: FuzzFigures;
  try {
    fuzz = await runFuzzInThread({
      host: options.host,
      port: options.port,
      sockets: options.sockets,
      durationMs: options.durationS * 1000,
      seed: options.seed,
      identities: options.identities,
      progressEveryMs: options.progressEveryMs ?? 5000,
      onProgress: (figures) => log(progressLine(figures, goodDevice?.figures(), rssWatch.peak())),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    rssWatch.stop();
    loopDelay.disable();
  }
  const good = await goodDevice?.stop();
  const afterBytes = await target.rssBytes();
  const peakBytes = Math.max(rssWatch.peak() ?? 0, afterBytes ?? 0) || undefined;
  const alive = await target.alive();
  const refusalsAfter = await target.refusals();
  const gatewayRefusals = refusalsAfter
    ? Object.fromEntries(Object.entries(refusalsAfter).map(([reason, count]) => [reason, count - (refusalsBefore?.[reason] ?? 0)]).filter(([, count]) => count !== 0))
    : undefined;

  const problems: string[] = [];
  if (alive && !alive.alive) problems.push(`the gateway is not alive: ${alive.detail}`);
  if (fuzz.recentAtFirstRefusal) problems.push(`the listener refused connections (${fuzz.errors.ECONNREFUSED ?? 0}); connections started just before: ${fuzz.recentAtFirstRefusal.join(' ')}`);
  if (fuzz.acceptedBy.length > 0) problems.push(`CONNACK 0 to fuzz sockets, which hold no real secret: ${fuzz.acceptedBy.join(' ')}`);
  if (good) {
    if (good.acked === 0) problems.push('the good device got no PUBACK at all');
    else if (good.maxGapMs > options.stallMs) problems.push(`the good device stalled: ${good.maxGapMs} ms without a PUBACK (limit ${options.stallMs} ms)`);
    if (good.disconnects > 0) problems.push(`the gateway dropped the good device's connection ${good.disconnects} time(s)`);
    if (good.failed > 0) problems.push(`${good.failed} of the good device's publishes failed`);
  }
  if (options.rssGrowthLimitBytes !== undefined && beforeBytes !== undefined && peakBytes !== undefined && peakBytes - beforeBytes > options.rssGrowthLimitBytes) {
    problems.push(`RSS grew by ${mib(peakBytes - beforeBytes)} (limit ${mib(options.rssGrowthLimitBytes)})`);
  }
  return {
    seed: options.seed,
    target: `${options.host}:${options.port}`,
    sockets: options.sockets,
    durationS: options.durationS,
    fuzz,
    ...(good ? { good } : {}),
    rss: { ...(beforeBytes !== undefined ? { beforeBytes } : {}), ...(peakBytes !== undefined ? { peakBytes } : {}), ...(afterBytes !== undefined ? { afterBytes } : {}) },
    harnessLoopDelayMs: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    ...(gatewayRefusals ? { gatewayRefusals } : {}),
    ...(alive ? { alive } : {}),
    problems,
  };
}
