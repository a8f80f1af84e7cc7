/**
 * `sluice bench`: starts its own Sluice (a child process, so its memory is its own) against the given Kafka,
 * with its own VictoriaMetrics (no dedup: double writes stay visible) unless a store URL is given, drives it
 * with the load of ./load.ts and measures everything from outside: acknowledgements on the MQTT side, the live
 * push as a socket.io client, and the store by reading it back.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { cpus, freemem, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { io, type Socket } from 'socket.io-client';
import { hashSecret, registryPath } from '../gateway/registry.js';
import { connectLean, type LeanClient } from '../simulators/lean-mqtt.js';
import { account, ackedFromRows } from './accounting.js';
import { runLoad, type LoadProgress } from './load.js';
import { describeStages, scrapeStages, type Stages } from './stages.js';
import { describeCpu, processCpuSeconds, startCpuWindow, type CpuProbe, type CpuReport } from './cpu.js';
import { startSluiceChild, startVictoriaMetrics, type SluiceChild } from './processes.js';
import { countPoints, exportPoints, runSelector, sampleExportStart } from './store.js';
import { BENCH_METRIC, benchDeviceId, decodeSequence } from './payload.js';
import { kafkaBaseline, mosquittoBaseline, type KafkaBaseline, type MosquittoBaseline } from './baselines.js';

export type BaselineName = 'mosquitto' | 'kafka';

export interface BenchOptions {
  devices: number;
  rate: number;
  durationS: number;
  qos: 0 | 1;
  payloadBytes: number;
  workers: number;
  kafkaBrokers: string[];
  /** Use this store instead of starting one (duplicates may then be hidden by its dedup). */
  influxUrl?: string;
  baselines: BaselineName[];
  partitions: number;
  /** Extra idle connections opened after the load, to measure the gateway's memory per connection. */
  idleDevices: number;
  maxInflightPerDevice: number;
  /** Extra node flags for the Sluice child, e.g. --cpu-prof. */
  sluiceNodeArgs: string[];
  sluiceEnv: Record<string, string>;
  /** Gateway+bridge, writer and dashboard as three processes (as in production) instead of one. */
  splitRoles?: boolean;
  storeWaitS: number;
  /** The first seconds of load (JIT, first Kafka requests) are counted but left out of the latency percentiles. */
  warmupS: number;
}

export interface BenchReport {
  devices: number;
  qos: number;
  durationS: number;
  sent: number;
  acked: number;
  stored: number;
  pushedLive: number | null;
  lost: number;
  duplicatesStored: number;
  ingestPerSec: number;
  latencyMs: { ackP50: number; ackP99: number; livePushP50: number | null; livePushP99: number | null; storedP50: number | null; storedP99: number | null };
  gatewayRssMiB: number | null;
  // Beyond the DESIGN §2 minimum:
  offeredPerSec: number;
  ratePerDevice: number;
  payloadBytes: number;
  connected: number;
  errors: number;
  throttled: number;
  storedNotAcked: number;
  ackMaxMs: number;
  gatewayRssPeakMiB: number | null;
  stages?: Stages;
  cpu?: CpuReport;
  idle?: { devices: number; connected: number; gatewayRssMiB: number | null; rssBeforeMiB: number | null };
  baselines: { mosquitto?: MosquittoBaseline; kafka?: KafkaBaseline };
  ratios: { vsMosquitto?: number; vsKafka?: number };
  store: string;
  notes: string[];
  machine: { cpus: number; cpuModel: string; memTotalGiB: number; memFreeGiB: number; node: string };
  startedAt: string;
}

const MiB = 1024 * 1024;
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Bench devices share one secret: one scrypt hash instead of thousands (a bench is not a security test). */
async function registerBenchDevices(dataDir: string, count: number): Promise<{ ids: string[]; secret: string }> {
  const secret = randomBytes(18).toString('base64url');
  const hash = await hashSecret(secret);
  const createdAt = new Date().toISOString();
  const ids = Array.from({ length: count }, (_, i) => benchDeviceId(i));
  const devices = Object.fromEntries(ids.map((id) => [id, { hash, createdAt }]));
  await mkdir(dataDir, { recursive: true });
  await writeFile(registryPath(dataDir), JSON.stringify({ version: 1, devices }), { mode: 0o600 });
  return { ids, secret };
}

interface LiveMeter {
  pushed(): number;
  /** Readings published before this (epoch ms) are counted, not timed. */
  measureFrom(epochMs: number): void;
  histogram: hdr.Histogram;
  reason?: string;
  close(): void;
}

/**
 * Live push is measured on the device rooms of a sample of devices, as the dashboard's device view receives
 * them. The `fleet:readings` firehose (every reading of every device) would cost the bench's own socket.io
 * client ~40 µs of CPU per message, taken from the same cores the pipeline runs on.
 */
const LATENCY_SAMPLE_DEVICES = 32;

async function connectLive(port: number, token: string, sampleIds: readonly string[], messagesPerDevice: number, log: (line: string) => void): Promise<LiveMeter> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  let pushed = 0;
  // First arrival per message only: a reading pushed again (redelivery) is not a new push.
  const seen = new Map<number, Uint8Array>();
  const socket: Socket = io(`http://127.0.0.1:${port}`, { auth: { token }, transports: ['websocket'], reconnection: false, timeout: 5000 });
  let timedFrom = Number.POSITIVE_INFINITY;
  const meter: LiveMeter = { pushed: () => pushed, histogram, close: () => socket.close(), measureFrom: (epochMs) => (timedFrom = epochMs) };
  socket.on('readings', (frame: { readings?: { metric: string; ts: number; value: unknown }[]; dropped?: number }) => {
    const now = Date.now();
    for (const reading of frame.readings ?? []) {
      if (reading.metric !== BENCH_METRIC || typeof reading.value !== 'number') continue;
      const { deviceIndex, message } = decodeSequence(reading.value);
      let row = seen.get(deviceIndex);
      if (!row) seen.set(deviceIndex, (row = new Uint8Array(messagesPerDevice + 1)));
      if (message >= row.length || row[message] === 1) continue;
      row[message] = 1;
      pushed++;
      if (reading.ts >= timedFrom) histogram.recordValue(Math.max(1, now - reading.ts));
    }
  });
  const join = (room: string): Promise<string | undefined> =>
    new Promise((resolve) => socket.emit('join', room, (result: { ok: boolean; error?: string }) => resolve(result?.ok ? undefined : `join ${room} refused: ${result?.error ?? 'no reason'}`)));
  const joined = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve('no socket.io answer on the dashboard port within 5 s'), 5000);
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      resolve(`socket.io connection refused: ${error.message}`);
    });
    socket.once('connect', () => {
      void Promise.all(sampleIds.map((id) => join(`device:${id}`))).then((refusals) => {
        clearTimeout(timer);
        resolve(refusals.find((refusal) => refusal !== undefined));
      });
    });
  });
  if (joined) {
    meter.reason = joined;
    socket.close();
    log(`live push not measured: ${joined}`);
  }
  return meter;
}

/** Polls a sample of devices' series and records, per new point, when it first became readable. */
function sampleStoreLatency(url: string, runId: string, sampleIds: string[]): { histogram: hdr.Histogram; measureFrom(epochMs: number): void; stop(): Promise<void> } {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  const seen = new Set<number>();
  const newestStored = new Map<string, number>();
  const runStartMs = Date.now();
  let timedFrom = Number.POSITIVE_INFINITY;
  let running = true;
  const loop = (async () => {
    while (running) {
      const pollAt = Date.now();
      try {
        for (const series of await exportPoints(url, runSelector(runId, sampleIds), sampleExportStart(newestStored, sampleIds, runStartMs))) {
          const device = series.metric.device;
          series.values.forEach((value, i) => {
            const ts = series.timestamps[i]!;
            if (device !== undefined && ts > (newestStored.get(device) ?? Number.NEGATIVE_INFINITY)) newestStored.set(device, ts);
            if (seen.has(value)) return;
            seen.add(value);
            if (ts >= timedFrom) histogram.recordValue(Math.max(1, pollAt - ts));
          });
        }
      } catch {
        // the next poll tries again
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 250 - (Date.now() - pollAt))));
    }
  })();
  return {
    histogram,
    measureFrom: (epochMs) => (timedFrom = epochMs),
    async stop() {
      running = false;
      await loop;
    },
  };
}

async function storedValues(url: string, runId: string): Promise<number[]> {
  const values: number[] = [];
  for (const series of await exportPoints(url, runSelector(runId))) for (const value of series.values) values.push(value);
  return values;
}

export async function runBench(options: BenchOptions, log: (line: string) => void, onProgress?: (p: LoadProgress & { phase: string }) => void): Promise<BenchReport> {
  const runId = randomBytes(4).toString('hex');
  const prefix = `bench${runId}`;
  const notes: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const messagesPerDevice = Math.floor(options.rate * options.durationS);
  const warmupMs = Math.round(options.warmupS * 1000);
  const startedAt = new Date().toISOString();
  try {
    let storeUrl = options.influxUrl;
    let storePid: number | undefined;
    if (!storeUrl) {
      const vm = await startVictoriaMetrics();
      cleanups.push(vm.stop);
      storePid = vm.child.pid;
      storeUrl = vm.url;
      notes.push('store: the bench\'s own VictoriaMetrics without -dedup.minScrapeInterval, so a point written twice is counted twice');
    } else {
      notes.push(`store: ${storeUrl} (given); if it deduplicates, duplicatesStored cannot see double writes`);
    }
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-bench-data-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const { ids, secret } = await registerBenchDevices(dataDir, options.devices + options.idleDevices);
    const token = randomBytes(16).toString('hex');
    log(`starting sluice (topics ${prefix}.*, store ${storeUrl})`);
    const sluiceEnv = {
      KAFKA_BROKERS: options.kafkaBrokers.join(','),
      INFLUX_URL: storeUrl,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_CLIENT_ID: `sluice-${prefix}`,
      KAFKA_PARTITIONS: String(options.partitions),
      DATA_DIR: dataDir,
      DASHBOARD_TOKEN: token,
      ...options.sluiceEnv,
    };
    // Split: the measured gateway process runs gateway+bridge; writer and dashboard run beside it.
    const sluice: SluiceChild = await startSluiceChild(sluiceEnv, options.sluiceNodeArgs, options.splitRoles ? ['--roles', 'gateway,bridge'] : []);
    const helpers: SluiceChild[] = [];
    if (options.splitRoles) {
      for (const roles of ['writer', 'dashboard']) {
        const helper = await startSluiceChild(sluiceEnv, [], ['--roles', roles]);
        helpers.push(helper);
        cleanups.unshift(helper.stop);
      }
      notes.push('roles split: gateway+bridge, writer and dashboard in three processes; gateway RSS is the gateway+bridge process');
    }
    const dashboardPort = options.splitRoles ? helpers[1]!.dashboardPort : sluice.dashboardPort;
    cleanups.unshift(sluice.stop);
    let rssPeak = 0;
    const rssTimer = setInterval(() => {
      void sluice.rssBytes().then((rss) => {
        if (rss !== undefined) rssPeak = Math.max(rssPeak, rss);
      });
    }, 1000);
    cleanups.unshift(async () => clearInterval(rssTimer));

    // The same sampled devices for live push and store latency; at most 32, the rooms one socket.io client may join.
    const sampleIds = ids.slice(0, Math.min(LATENCY_SAMPLE_DEVICES, options.devices));
    const live = await connectLive(dashboardPort, token, sampleIds, messagesPerDevice, log);
    cleanups.unshift(async () => live.close());
    const storeSampler = sampleStoreLatency(storeUrl, runId, sampleIds);
    cleanups.unshift(() => storeSampler.stop());

    log(`connecting ${options.devices} devices (${options.workers} load worker(s))`);
    const devices = ids.slice(0, options.devices).map((id, index) => ({ index, id, secret }));
    const cpuProbes: CpuProbe[] = [
      { name: options.splitRoles ? 'gateway+bridge' : 'sluice', seconds: () => sluice.cpuSeconds() },
      ...helpers.map((helper, i) => ({ name: i === 0 ? 'writer' : 'dashboard', seconds: () => helper.cpuSeconds() })),
      { name: 'store', seconds: () => processCpuSeconds(storePid) },
      { name: 'bench', seconds: async () => { const used = process.cpuUsage(); return (used.user + used.system) / 1e6; } },
    ];
    let cpuWindow: Promise<Awaited<ReturnType<typeof startCpuWindow>>> | undefined;
    const load = await runLoad({
      host: '127.0.0.1',
      port: sluice.mqttPort,
      devices,
      rate: options.rate,
      durationS: options.durationS,
      qos: options.qos,
      runId,
      payloadBytes: options.payloadBytes,
      topicPattern: 'devices/{id}/telemetry',
      messagesPerDevice,
      connectConcurrency: 100,
      maxInflightPerDevice: options.maxInflightPerDevice,
      drainMs: 60_000,
      workers: options.workers,
      warmupMs,
      onConnected: (c) => {
        cpuWindow = startCpuWindow(cpuProbes);
        live.measureFrom(c.startAt + warmupMs);
        storeSampler.measureFrom(c.startAt + warmupMs);
        log(`connected ${c.connected}, refused ${c.refused}, failed ${c.failed}; publishing for ${options.durationS} s`);
      },
      ...(onProgress ? { onProgress: (p: LoadProgress) => onProgress({ ...p, phase: 'sluice' }) } : {}),
    });
    const rssAfterLoad = await sluice.rssBytes();
    const cpu = cpuWindow ? await (await cpuWindow).finish(load.acked) : undefined;
    if (cpu) notes.push(describeCpu(cpu));


    // Wait until the store holds every acknowledged message, or stops growing.
    log(`load done: sent ${load.sent}, acked ${load.acked}; waiting for the store`);
    const storeDeadline = Date.now() + options.storeWaitS * 1000;
    let lastCount = -1;
    let stableSince = Date.now();
    for (;;) {
      const count = await countPoints(storeUrl, runId).catch(() => lastCount);
      if (count >= load.acked || Date.now() > storeDeadline) break;
      if (count !== lastCount) {
        lastCount = count;
        stableSince = Date.now();
      } else if (Date.now() - stableSince > 15_000) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Let the live feed's last batch arrive and the sampler see the last points.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await storeSampler.stop();

    // The raw count includes duplicates, so it can reach `acked` before every message is in: account on the
    // full export, and while messages are still missing and the store keeps growing, look again.
    const acked = ackedFromRows(load.rows);
    let accounting = account(acked, load.rows, await storedValues(storeUrl, runId));
    let lastLost = accounting.lost;
    let lostSince = Date.now();
    while (accounting.lost > 0 && Date.now() < storeDeadline && Date.now() - lostSince < 15_000) {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      accounting = account(acked, load.rows, await storedValues(storeUrl, runId));
      if (accounting.lost !== lastLost) {
        lastLost = accounting.lost;
        lostSince = Date.now();
      }
    }
    if (accounting.lost > 0) notes.push(`lost examples (device index, message): ${JSON.stringify(accounting.lostExamples)}`);

    let idle: BenchReport['idle'];
    if (options.idleDevices > 0) {
      log(`opening ${options.idleDevices} idle connections`);
      const before = await sluice.rssBytes();
      const clients: LeanClient[] = [];
      const idleIds = ids.slice(options.devices);
      let next = 0;
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          while (next < idleIds.length) {
            const id = idleIds[next++]!;
            try {
              clients.push(await connectLean({ host: '127.0.0.1', port: sluice.mqttPort, clientId: id, username: id, password: secret, keepaliveS: 60, connectTimeoutMs: 300_000 }));
            } catch {
              // counted as not connected
            }
            if (clients.length % 1000 === 0) log(`  ${clients.length} idle connections`);
          }
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const after = await sluice.rssBytes();
      idle = {
        devices: options.idleDevices,
        connected: clients.length,
        gatewayRssMiB: after === undefined ? null : round(after / MiB),
        rssBeforeMiB: before === undefined ? null : round(before / MiB),
      };
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }

    const stages = await scrapeStages([sluice, ...helpers].map((child) => child.dashboardPort), token);
    if (stages) notes.push(describeStages(stages));
    live.close();
    const pushedLive = live.reason ? null : live.pushed();
    if (live.reason) notes.push(`live push not measured: ${live.reason}`);
    await sluice.stop();
    for (const helper of helpers) await helper.stop();

    const seconds = Math.max(0.001, (load.lastAckAt - load.firstSendAt) / 1000);
    const report: BenchReport = {
      devices: options.devices,
      qos: options.qos,
      durationS: options.durationS,
      sent: load.sent,
      acked: load.acked,
      stored: accounting.stored,
      pushedLive,
      lost: accounting.lost,
      duplicatesStored: accounting.duplicatesStored,
      ingestPerSec: Math.round(load.acked / seconds),
      latencyMs: {
        ackP50: round(load.ackHistogram.getValueAtPercentile(50) / 1000, 2),
        ackP99: round(load.ackHistogram.getValueAtPercentile(99) / 1000, 2),
        livePushP50: pushedLive ? live.histogram.getValueAtPercentile(50) : null,
        livePushP99: pushedLive ? live.histogram.getValueAtPercentile(99) : null,
        storedP50: storeSampler.histogram.totalCount > 0 ? storeSampler.histogram.getValueAtPercentile(50) : null,
        storedP99: storeSampler.histogram.totalCount > 0 ? storeSampler.histogram.getValueAtPercentile(99) : null,
      },
      gatewayRssMiB: rssAfterLoad === undefined ? null : round(rssAfterLoad / MiB),
      offeredPerSec: Math.round(options.devices * options.rate),
      ratePerDevice: options.rate,
      payloadBytes: options.payloadBytes,
      connected: load.connected,
      errors: load.errors,
      throttled: load.throttled,
      storedNotAcked: accounting.storedNotAcked,
      ackMaxMs: round(load.ackHistogram.maxValue / 1000, 1),
      gatewayRssPeakMiB: rssPeak > 0 ? round(rssPeak / MiB) : null,
      ...(stages ? { stages } : {}),
      ...(cpu ? { cpu } : {}),
      ...(idle ? { idle } : {}),
      baselines: {},
      ratios: {},
      store: storeUrl,
      notes,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memTotalGiB: round(totalmem() / 1024 ** 3), memFreeGiB: round(freemem() / 1024 ** 3), node: process.version },
      startedAt,
    };
    if (warmupMs > 0) notes.push(`latency percentiles leave out messages published in the first ${options.warmupS} s of the load (warm-up: JIT, first Kafka requests); every count includes them`);
    notes.push(`live push latency and count: the ${sampleIds.length} sampled devices' socket.io rooms (device:<id>), first arrival per message`);
    notes.push(`stored latency: from the same ${sampleIds.length} sampled devices, store polled every 250 ms (an upper bound, up to one poll late)`);
    notes.push('ingestPerSec: acknowledged messages (one reading each) / (last PUBACK − first publish)');

    const baselineLoad = {
      devices: options.devices,
      rate: options.rate,
      durationS: options.durationS,
      payloadBytes: options.payloadBytes,
      workers: options.workers,
      runId,
      messagesPerDevice,
      maxInflightPerDevice: options.maxInflightPerDevice,
      warmupMs,
    };
    for (const baseline of options.baselines) {
      if (baseline === 'mosquitto') {
        report.baselines.mosquitto = await mosquittoBaseline(baselineLoad, log);
        report.ratios.vsMosquitto = round(report.ingestPerSec / report.baselines.mosquitto.perSec, 2);
      } else {
        report.baselines.kafka = await kafkaBaseline(options.kafkaBrokers, baselineLoad, Number(options.sluiceEnv.BRIDGE_MAX_BATCH_RECORDS ?? 2000), options.partitions, log);
        report.ratios.vsKafka = round(report.ingestPerSec / report.baselines.kafka.perSec, 2);
      }
    }
    return report;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}
