import { writeFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { kafkaConnectionFrom } from '../../core/streams/connection.js';
import { configOrExit, positiveInt, positiveNumber, wholeNumber } from '../common.js';
import { runBench, type BaselineName } from '../../bench/run.js';
import type { BenchLog } from '../../bench/log.js';
import { formatReport } from '../../bench/report.js';
import { FaultSpecError, parseFaultSpec, validateFaults, type FaultSpec } from '../../bench/faults.js';
import { FORWARD_SINK_NAMES, type ForwardSinkName } from '../../core/seams.js';

function collectBaseline(value: string, previous: BaselineName[]): BaselineName[] {
  if (value !== 'mosquitto' && value !== 'kafka') throw new InvalidArgumentError('baseline is mosquitto or kafka');
  return [...previous, value];
}

function collectFault(value: string, previous: FaultSpec[]): FaultSpec[] {
  try {
    return [...previous, parseFaultSpec(value)];
  } catch (error) {
    if (error instanceof FaultSpecError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

function collectSink(value: string, previous: ForwardSinkName[]): ForwardSinkName[] {
  if (!(FORWARD_SINK_NAMES as readonly string[]).includes(value)) throw new InvalidArgumentError(`sink is ${FORWARD_SINK_NAMES.join(', ')}`);
  return previous.includes(value as ForwardSinkName) ? previous : [...previous, value as ForwardSinkName];
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
  gateways: number;
  rules?: boolean;
  kafkaNodes?: '1' | '3';
  reconnectMax: number;
  fault: FaultSpec[];
  sink: ForwardSinkName[];
  sinkWait: number;
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('start Sluice against Kafka and a store, drive it with simulated devices and measure it from outside')
    .option('--devices <n>', 'devices publishing', positiveInt, 1000)
    .option('--rate <r>', 'messages per second per device', positiveNumber, 20)
    .option('--duration <s>', 'seconds of load', positiveNumber, 30)
    .addOption(new Option('--qos <q>', 'MQTT QoS').choices(['0', '1']).default('1'))
    .option('--rules', 'run 10 rules (bench/rules.ts) in a rules process of their own; report its CPU per message and the alert latency (reading published → alert on the alerts topic)')
    .option('--json <file>', 'write the results as JSON (docs/contracts.md §13)')
    .option('--baseline <name>', 'also measure mosquitto (pub→sub QoS 1) and/or kafka (raw kafkajs); repeatable', collectBaseline, [])
    .option('--kafka <brokers>', 'Kafka brokers (default: KAFKA_BROKERS)')
    .addOption(new Option('--kafka-nodes <n>', 'start a Kafka cluster of the bench\'s own with 1 or 3 nodes (replication factor 3 with 3) instead of using --kafka / KAFKA_BROKERS; destroyed afterwards').choices(['1', '3']))
    .option(
      '--fault <spec>',
      'apply a fault during the load, repeatable: broker-stop:N@T[+D], broker-kill:N@T[+D] (N = leader or 0..2), kafka-down@T[+D], store-down@T[+D], writer-kill@T[+D], gateway-restart[:G]@T[+D], gateway-kill[:G]@T[+D] (G = a gateway index with --gateways, 0 by default); T and D in seconds from the start of the load',
      collectFault,
      [],
    )
    .option(
      '--sink <name>',
      `also forward every reading to a server of the bench's own: ${FORWARD_SINK_NAMES.join(', ')} (the forwarder role, docs/contracts.md §16); report forwarded/s, publish→sink latency, lost and duplicates at that server; repeatable`,
      collectSink,
      [],
    )
    .option('--sink-wait <s>', 'longest wait after the load for each --sink server to hold every acknowledged reading', positiveNumber, 120)
    .option('--influx <url>', 'use this InfluxDB-compatible store instead of starting a private VictoriaMetrics')
    .option('--workers <n>', 'load generator worker threads', positiveInt, 1)
    .option('--payload-bytes <n>', 'size of each JSON payload', positiveInt, 100)
    .option('--partitions <n>', 'partitions of the bench topics', positiveInt, 6)
    .option('--idle-devices <n>', 'after the load, open this many idle connections and report the gateway memory', wholeNumber, 0)
    .option('--max-inflight <n>', 'unacknowledged messages per device before it skips due publishes', positiveInt, 1000)
    .option('--cpu-prof <dir>', 'run the Sluice process with node --cpu-prof, profiles written to this directory')
    .option('--reconnect-max <s>', 'longest reconnect backoff of a device after a dropped connection (from 0.25 s, doubling, jittered)', positiveNumber, 5)
    .option('--split-roles', 'run gateway+bridge, writer and dashboard as three processes, as in production')
    .option('--gateways <n>', 'gateway+bridge processes; more than 1 runs the roles split (as --split-roles) with a TCP balancer of the bench\'s own in front of the gateways, and the devices connect to it', positiveInt, 1)
    .option('--store-wait <s>', 'longest wait for the store to catch up after the load', positiveNumber, 120)
    .option('--warmup <s>', 'seconds at the start of the load left out of the latency percentiles (at most a quarter of --duration)', wholeNumber, 5)
    .action(async (options: BenchCliOptions) => {
      const kafkaNodes = options.kafkaNodes === undefined ? undefined : options.kafkaNodes === '3' ? 3 : 1;
      if (kafkaNodes !== undefined && options.kafka) program.error('sluice bench: --kafka and --kafka-nodes exclude each other: use someone\'s Kafka or start one of the bench\'s own');
      // Someone's Kafka: --kafka, else KAFKA_BROKERS as the configuration reads it. The bench brings its own store
      // (or --influx), so KAFKA_BROKERS needs no INFLUX_URL here.
      const brokers =
        kafkaNodes !== undefined
          ? []
          : options.kafka !== undefined
            ? options.kafka.split(',').map((b) => b.trim()).filter(Boolean)
            : [...kafkaConnectionFrom(configOrExit({ kafkaNeedsStore: false })).brokers];
      if (kafkaNodes === undefined && brokers.length === 0) program.error('sluice bench: give --kafka host:port, set KAFKA_BROKERS (e.g. after "npm run services:up"), or let the bench start its own with --kafka-nodes 1|3');
      // Several gateways run the roles split, as production does.
      const splitRoles = options.splitRoles === true || options.gateways > 1;
      const problems = validateFaults(options.fault, { kafkaNodes, splitRoles, ownStore: !options.influx, durationS: options.duration, gateways: options.gateways });
      if (problems.length > 0) program.error(`sluice bench: ${problems.length === 1 ? 'a fault cannot run' : 'faults cannot run'}:\n  ${problems.join('\n  ')}`);
      const log: BenchLog = (line, fields = {}) => void process.stderr.write(`[bench] ${line}${fields.err === undefined ? '' : `: ${inspect(fields.err)}`}\n`);
      // Ctrl-C or a SIGTERM stops everything the bench started (its Kafka cluster, store, Sluice) before exiting.
      const interrupt = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        log(`${signal}: stopping everything the bench started`);
        interrupt.abort();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
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
          ...(kafkaNodes !== undefined ? { kafkaNodes } : {}),
          faults: options.fault,
          signal: interrupt.signal,
          ...(options.influx ? { influxUrl: options.influx } : {}),
          baselines: options.baseline,
          partitions: options.partitions,
          idleDevices: options.idleDevices,
          maxInflightPerDevice: options.maxInflight,
          maxReconnectMs: Math.max(250, options.reconnectMax * 1000),
          sluiceNodeArgs: options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`] : [],
          sluiceEnv: { LOG_LEVEL: 'info' },
          storeWaitS: options.storeWait,
          sinks: options.sink,
          sinkWaitS: options.sinkWait,
          warmupS: Math.min(options.warmup, options.duration / 4),
          splitRoles,
          gateways: options.gateways,
          rules: options.rules === true,
        },
        log,
        (p) => {
          const now = Date.now();
          if (now - lastProgress < 5000) return;
          lastProgress = now;
          log(`${p.phase}: sent ${p.sent}, acked ${p.acked}, errors ${p.errors}${p.disconnects > 0 ? `, disconnects ${p.disconnects}, resent ${p.resent}` : ''}`);
        },
      ).catch((error: unknown) => {
        if (interrupt.signal.aborted) process.exit(130);
        return program.error(`sluice bench: ${(error as Error).stack ?? String(error)}`);
      });
      console.log(formatReport(report));
      if (options.json) await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
      process.exit(0);
    });
}
