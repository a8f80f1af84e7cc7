import { writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { positiveInt, positiveNumber, wholeNumber } from '../common.js';
import { runBench, type BaselineName } from '../../bench/run.js';
import { formatReport } from '../../bench/report.js';

function collectBaseline(value: string, previous: BaselineName[]): BaselineName[] {
  if (value !== 'mosquitto' && value !== 'kafka') throw new InvalidArgumentError('baseline is mosquitto or kafka');
  return [...previous, value];
}

interface BenchCliOptions {
  devices: number;
  rate: number;
  duration: number;
  qos: '0' | '1';
  json?: string;
  baseline: BaselineName[];
  kafka?: string;
  influx?: string;
  workers: number;
  payloadBytes: number;
  partitions: number;
  idleDevices: number;
  maxInflight: number;
  cpuProf?: string;
  storeWait: number;
  warmup: number;
  splitRoles?: boolean;
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('start Sluice against Kafka and a store, drive it with simulated devices and measure it from outside')
    .option('--devices <n>', 'devices publishing', positiveInt, 1000)
    .option('--rate <r>', 'messages per second per device', positiveNumber, 20)
    .option('--duration <s>', 'seconds of load', positiveNumber, 30)
    .addOption(new Option('--qos <q>', 'MQTT QoS').choices(['0', '1']).default('1'))
    .option('--json <file>', 'write the results as JSON (DESIGN §2)')
    .option('--baseline <name>', 'also measure mosquitto (pub→sub QoS 1) and/or kafka (raw kafkajs); repeatable', collectBaseline, [])
    .option('--kafka <brokers>', 'Kafka brokers (default: KAFKA_BROKERS)')
    .option('--influx <url>', 'use this InfluxDB-compatible store instead of starting a private VictoriaMetrics')
    .option('--workers <n>', 'load generator worker threads', positiveInt, 1)
    .option('--payload-bytes <n>', 'size of each JSON payload', positiveInt, 100)
    .option('--partitions <n>', 'partitions of the bench topics', positiveInt, 6)
    .option('--idle-devices <n>', 'after the load, open this many idle connections and report the gateway memory', wholeNumber, 0)
    .option('--max-inflight <n>', 'unacknowledged messages per device before it skips due publishes', positiveInt, 1000)
    .option('--cpu-prof <dir>', 'run the Sluice process with node --cpu-prof, profiles written to this directory')
    .option('--split-roles', 'run gateway+bridge, writer and dashboard as three processes, as in production')
    .option('--store-wait <s>', 'longest wait for the store to catch up after the load', positiveNumber, 120)
    .option('--warmup <s>', 'seconds at the start of the load left out of the latency percentiles (at most a quarter of --duration)', wholeNumber, 5)
    .action(async (options: BenchCliOptions) => {
      const brokers = (options.kafka ?? process.env.KAFKA_BROKERS ?? '').split(',').map((b) => b.trim()).filter(Boolean);
      if (brokers.length === 0) program.error('sluice bench: give --kafka host:port or set KAFKA_BROKERS (e.g. after "npm run services:up")');
      const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
      let lastProgress = 0;
      const report = await runBench(
        {
          devices: options.devices,
          rate: options.rate,
          durationS: options.duration,
          qos: options.qos === '1' ? 1 : 0,
          payloadBytes: options.payloadBytes,
          workers: options.workers,
          kafkaBrokers: brokers,
          ...(options.influx ? { influxUrl: options.influx } : {}),
          baselines: options.baseline,
          partitions: options.partitions,
          idleDevices: options.idleDevices,
          maxInflightPerDevice: options.maxInflight,
          sluiceNodeArgs: options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`] : [],
          sluiceEnv: { LOG_LEVEL: 'info' },
          storeWaitS: options.storeWait,
          warmupS: Math.min(options.warmup, options.duration / 4),
          splitRoles: options.splitRoles === true,
        },
        log,
        (p) => {
          const now = Date.now();
          if (now - lastProgress < 5000) return;
          lastProgress = now;
          log(`${p.phase}: sent ${p.sent}, acked ${p.acked}, errors ${p.errors}`);
        },
      ).catch((error: unknown) => program.error(`sluice bench: ${(error as Error).stack ?? String(error)}`));
      console.log(formatReport(report));
      if (options.json) await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
      process.exit(0);
    });
}
