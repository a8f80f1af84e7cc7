import { writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { positiveInt, positiveNumber, wholeNumber } from '../common.js';
import { createFleet, type FleetStats } from '../../simulators/fleet.js';
import { getProfile, PROFILE_NAMES } from '../../simulators/profiles.js';
import { DOCUMENT_FORMATS, type DocumentFormat } from '../../core/reading.js';
import { validateShares, type FaultShares } from '../../simulators/faults.js';
import { CLIENT_KINDS, connectorFor, type ClientKind } from '../../simulators/connection.js';
import { readCredentials } from '../../simulators/credentials.js';
import { formatSummary, startStatusLine } from '../../simulators/status.js';

function share(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a share between 0 and 1');
  return n;
}

interface SimulateOptions {
  url: string;
  credentials: string;
  devices?: number;
  rate?: number;
  duration?: number;
  profile: string;
  format: DocumentFormat;
  qos: '0' | '1';
  seed: number;
  client: ClientKind;
  malformedShare: number;
  oversizedShare: number;
  clockSkewShare: number;
  abruptDisconnectShare: number;
  wrongSecretShare: number;
  oversizedBytes: number;
  clockSkewMs: number;
  summaryJson?: string;
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('run a simulated device fleet against a gateway, with optional fault injection')
    .option('--url <url>', 'gateway MQTT URL', 'mqtt://localhost:1883')
    .requiredOption('--credentials <file>', 'credentials file written by "sluice devices add --out"')
    .option('--devices <n>', 'how many devices of the file to run (default: all)', positiveInt)
    .option('--rate <r>', 'messages per second per device (default: the profile\'s)', positiveNumber)
    .option('--duration <s>', 'seconds to run (default: until Ctrl-C)', positiveNumber)
    .addOption(new Option('--profile <name>', 'signal profile').choices(PROFILE_NAMES).default('environment'))
    .addOption(new Option('--format <f>', 'payload format').choices(DOCUMENT_FORMATS).default('json'))
    .addOption(new Option('--qos <q>', 'MQTT QoS').choices(['0', '1']).default('1'))
    .option('--seed <n>', 'seed of every signal, jitter and fault choice', wholeNumber, 1)
    .addOption(new Option('--client <kind>', 'MQTT client per device: mqttjs, or lean for 10,000+ devices').choices(CLIENT_KINDS).default('mqttjs'))
    .option('--malformed-share <x>', 'share of messages that are not valid JSON', share, 0)
    .option('--oversized-share <x>', 'share of messages larger than --oversized-bytes', share, 0)
    .option('--clock-skew-share <x>', 'share of messages whose device time is --clock-skew-ms ahead', share, 0)
    .option('--abrupt-disconnect-share <x>', 'share of devices whose socket is destroyed once mid-run (the will fires)', share, 0)
    .option('--wrong-secret-share <x>', 'share of devices that connect with a wrong secret', share, 0)
    .option('--oversized-bytes <n>', 'size of an oversized payload (above MAX_PAYLOAD_BYTES)', positiveInt, 70_000)
    .option('--clock-skew-ms <n>', 'how far ahead a skewed device clock is', positiveInt, 3_600_000)
    .option('--summary-json <file>', 'also write the final counters as JSON')
    .action(async (options: SimulateOptions) => {
      const profile = getProfile(options.profile);
      const faults: FaultShares = {
        malformed: options.malformedShare,
        oversized: options.oversizedShare,
        clockSkew: options.clockSkewShare,
        abruptDisconnect: options.abruptDisconnectShare,
        wrongSecret: options.wrongSecretShare,
      };
      const problems = validateShares(faults);
      if (problems.length > 0) program.error(`sluice simulate: ${problems.join('; ')}`);
      let devices = await readCredentials(options.credentials).catch((error: unknown) => program.error(`sluice simulate: ${(error as Error).message}`));
      if (options.devices !== undefined) {
        if (options.devices > devices.length) program.error(`sluice simulate: --devices ${options.devices} but ${options.credentials} holds ${devices.length}`);
        devices = devices.slice(0, options.devices);
      }
      const rate = options.rate ?? profile.defaultRate;
      const fleet = createFleet(
        {
          url: options.url,
          devices,
          profile,
          format: options.format,
          qos: options.qos === '1' ? 1 : 0,
          rate,
          ...(options.duration === undefined ? {} : { durationS: options.duration }),
          seed: options.seed,
          faults,
          oversizedBytes: options.oversizedBytes,
          clockSkewMs: options.clockSkewMs,
        },
        { connect: connectorFor(options.client) },
      );
      console.error(`simulating ${devices.length} ${profile.name} device(s) at ${rate} msg/s each, ${options.format}, QoS ${options.qos} → ${options.url}`);
      const status = startStatusLine(() => fleet.stats(), options.duration);
      let interrupted = false;
      const interrupt = new Promise<void>((resolve) => {
        process.once('SIGINT', () => {
          interrupted = true;
          resolve();
        });
        process.once('SIGTERM', () => resolve());
      });
      await Promise.race([fleet.start(), interrupt]);
      await Promise.race([fleet.finished(), interrupt]);
      const stats: FleetStats = await fleet.stop(interrupted ? 2000 : 10_000);
      status.stop();
      console.error(formatSummary(stats));
      if (options.summaryJson) await writeFile(options.summaryJson, `${JSON.stringify(stats, null, 2)}\n`);
      // Failure only when messages went out and none was acknowledged (QoS 1): the gateway is not storing anything.
      process.exit(options.qos === '1' && stats.sent > 0 && stats.acked === 0 ? 1 : 0);
    });
}
