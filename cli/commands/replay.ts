import { type Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { createLogger } from '../../core/logger.js';
import { kafkaConnectionFrom } from '../../core/streams/connection.js';
import { readKafkaHistory } from '../../core/streams/kafka-history.js';
import { createInfluxStore } from '../../consumers/stores/influx.js';
import { replayTelemetry } from '../../consumers/replay.js';
import { configOrExit } from '../common.js';

function isoTime(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected an ISO-8601 time, e.g. 2026-11-25T10:00:00Z');
  return ms;
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('re-read Kafka history into the store (by receive time); safe to run twice')
    .requiredOption('--from <iso>', 'start of the range, inclusive', isoTime)
    .requiredOption('--to <iso>', 'end of the range, exclusive', isoTime)
    .option('--device <id...>', 'only these devices')
    .action(async (options: { from: number; to: number; device?: string[] }) => {
      const config = configOrExit();
      if (config.mode !== 'production') program.error('replay reads Kafka history: set KAFKA_BROKERS and INFLUX_URL (the embedded mode keeps no history)');
      if (options.to <= options.from) program.error('--to must be after --from');
      const kafka = kafkaConnectionFrom(config);
      const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
      const bar = new cliProgress.SingleBar(
        { format: 'replay {bar} {percentage}% | {value}/{total} records read | {written} points written | eta {eta_formatted}', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 5000 },
        cliProgress.Presets.shades_classic,
      );
      bar.start(0, 0, { written: 0 });
      const result = await replayTelemetry(
        { fromTs: options.from, toTs: options.to, ...(options.device ? { keys: new Set(options.device) } : {}) },
        {
          batchSize: config.WRITER_BATCH_SIZE,
          onProgress: (progress) => {
            bar.setTotal(progress.total);
            bar.update(progress.read, { written: progress.written });
          },
        },
        {
          readHistory: (range, onRecords, onProgress) =>
            readKafkaHistory(kafka, range, onRecords, onProgress),
          store: createInfluxStore({ url: config.INFLUX_URL!, token: config.INFLUX_TOKEN, org: config.INFLUX_ORG, bucket: config.INFLUX_BUCKET }),
          logger,
        },
      );
      bar.stop();
      console.log(`replayed ${result.records} records: ${result.written} points written, ${result.refused} refused by the store`);
    });
}
