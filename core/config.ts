import { join } from 'node:path';
import { z } from 'zod';
import { sluiceError, ErrorCodes } from './errors.js';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** `true` or `false`, spelled out: anything else is a configuration error, not a silent false. */
const flag = (byDefault: boolean) =>
  z
    .enum(['true', 'false'])
    .default(byDefault ? 'true' : 'false')
    .transform((value) => value === 'true');
const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

/**
 * Every environment variable Sluice reads, with its default. The README table and `.env.example`
 * are checked against this schema by a test, so a variable added here must be documented there.
 */
export const configSchema = z.object({
  MQTT_HOST: z.string().default('0.0.0.0'),
  MQTT_PORT: port.default(1883),
  MQTT_WS_PORT: port.default(8083),
  MQTT_TLS_PORT: port.default(8883),
  TLS_CERT: optionalText,
  TLS_KEY: optionalText,
  TLS_CA: optionalText,
  MQTT_MAX_CONNECTIONS: positiveInt.default(100_000),
  MQTT_MAX_PACKET_BYTES: positiveInt.default(1_048_576),
  MQTT_MAX_TOPIC_LEVELS: z.coerce.number().int().min(4).max(100).default(16),
  MQTT_MAX_KEEPALIVE_S: z.coerce.number().int().min(1).max(65535).default(3600),
  MQTT_MAX_TOPIC_BYTES: z.coerce.number().int().min(64).max(65535).default(512),
  MQTT_MAX_CONNECT_BYTES: z.coerce.number().int().min(128).max(268_435_455).default(4096),
  MQTT_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  MQTT_MAX_UNAUTHENTICATED: positiveInt.default(1000),
  MQTT_MAX_UNAUTHENTICATED_PER_ADDRESS: positiveInt.default(100),
  MQTT_AUTH_CONCURRENCY: positiveInt.default(2),
  MQTT_AUTH_QUEUE_MAX: positiveInt.default(1000),
  AUTH_FAILURE_BUDGET: positiveInt.default(10),
  AUTH_FAILURE_REFILL_MS: positiveInt.default(6000),
  DASHBOARD_HOST: z.string().default('0.0.0.0'),
  DASHBOARD_PORT: port.default(8080),
  DASHBOARD_TOKEN: optionalText,
  DATA_DIR: z.string().min(1).default('./data'),
  KAFKA_BROKERS: optionalText,
  KAFKA_CLIENT_ID: z.string().min(1).default('sluice'),
  KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" or "-" only')
    .default('iot'),
  /** Empty: derived from the client id and the topic prefix (writerGroupId in streams/connection.ts). */
  KAFKA_WRITER_GROUP: optionalText.pipe(
    z
      .string()
      .max(249)
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" or "-" only')
      .optional(),
  ),
  /** Empty: derived from the client id and the topic prefix (rulesGroupId in streams/connection.ts). */
  KAFKA_RULES_GROUP: optionalText.pipe(
    z
      .string()
      .max(249)
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" or "-" only')
      .optional(),
  ),
  KAFKA_PARTITIONS: positiveInt.default(6),
  KAFKA_REPLICATION_FACTOR: positiveInt.default(1),
  KAFKA_COMPRESSION: z.enum(['none', 'gzip']).default('none'),
  INFLUX_URL: optionalText.pipe(z.url().optional()),
  INFLUX_TOKEN: z.string().default(''),
  INFLUX_ORG: z.string().min(1).default('sluice'),
  INFLUX_BUCKET: z.string().min(1).default('telemetry'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_PAYLOAD_BYTES: positiveInt.default(65536),
  BRIDGE_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(5),
  BRIDGE_MAX_BATCH_RECORDS: positiveInt.default(2000),
  BRIDGE_MAX_INFLIGHT_READINGS: positiveInt.default(200_000),
  BRIDGE_PRODUCERS: z.coerce.number().int().min(1).max(16).default(2),
  BRIDGE_THREAD: flag(true),
  WRITER_BATCH_SIZE: positiveInt.default(5000),
  WRITER_FLUSH_MS: positiveInt.default(250),
  WRITER_THREAD: flag(false),
  /** Forward sinks (docs/contracts.md §16): each runs when its server is named. */
  RABBITMQ_URL: optionalText.pipe(z.url().optional()),
  /** Empty: `{KAFKA_TOPIC_PREFIX}.telemetry`. */
  RABBITMQ_EXCHANGE: optionalText,
  /** Empty: `{KAFKA_TOPIC_PREFIX}.telemetry`; `none`: declare no queue (bind your own). */
  RABBITMQ_QUEUE: optionalText,
  RABBITMQ_QUEUE_TYPE: z.enum(['classic', 'quorum', 'stream']).default('classic'),
  RABBITMQ_BATCH_RECORDS: positiveInt.default(1000),
  RABBITMQ_LINGER_MS: z.coerce.number().int().min(0).max(10_000).default(20),
  KINESIS_STREAM: optionalText.pipe(
    z
      .string()
      .max(128)
      .regex(/^[a-zA-Z0-9_.-]+$/, 'letters, digits, ".", "_" or "-" only')
      .optional(),
  ),
  KINESIS_ENDPOINT: optionalText.pipe(z.url().optional()),
  KINESIS_BATCH_RECORDS: z.coerce.number().int().min(1).max(500).default(500),
  KINESIS_LINGER_MS: z.coerce.number().int().min(0).max(10_000).default(100),
  PULSAR_URL: optionalText.pipe(z.url().optional()),
  /** Empty: `persistent://public/default/{KAFKA_TOPIC_PREFIX}.telemetry`. */
  PULSAR_TOPIC: optionalText,
  PULSAR_TOKEN: optionalText,
  PULSAR_BATCH_RECORDS: positiveInt.default(1000),
  PULSAR_LINGER_MS: z.coerce.number().int().min(0).max(10_000).default(20),
  /** A sink failing for longer than this turns readiness red. */
  FORWARDER_UNREADY_AFTER_MS: positiveInt.default(60_000),
  MEMORY_STORE_MAX_READINGS: positiveInt.default(1_000_000),
  LIVE_WINDOW_MINUTES: positiveInt.default(15),
  LIVE_WINDOW_MAX_READINGS: positiveInt.default(250_000),
  /** Empty: `${DATA_DIR}/rules.yaml` (rulesFilePath). */
  RULES_FILE: optionalText,
  RULES_ALLOWED_LATENESS_MS: z.coerce.number().int().min(0).default(60_000),
  RULES_STATE_FLUSH_MS: positiveInt.default(500),
  RULES_TICK_MS: positiveInt.default(1000),
  RULES_WEBHOOK_TIMEOUT_MS: positiveInt.default(5000),
  RULES_WEBHOOK_RETRIES: z.coerce.number().int().min(0).max(20).default(4),
});

export type RawConfig = z.infer<typeof configSchema>;

export type RunMode = 'production' | 'embedded';

export interface Config extends RawConfig {
  readonly mode: RunMode;
  readonly kafkaBrokers: readonly string[];
}

export interface LoadConfigOptions {
  /**
   * Whether KAFKA_BROKERS and INFLUX_URL must come together (default true: Sluice runs with both or neither).
   * `false` for a command that brings its own store and takes only Kafka from the environment (sluice bench).
   */
  kafkaNeedsStore?: boolean;
}

/**
 * Validates the whole environment at once so an operator sees every bad variable in one message
 * instead of fixing them one start-up at a time. The result is frozen: nothing re-reads the env later.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): Readonly<Config> {
  const parsed = configSchema.safeParse(pickKnown(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      return `${name}=${JSON.stringify(env[String(issue.path[0])] ?? '')}: ${issue.message}`;
    });
    throw sluiceError(ErrorCodes.CONFIG_INVALID, `invalid configuration: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  const raw = parsed.data;
  const problems: string[] = [];
  const hasKafka = raw.KAFKA_BROKERS !== undefined;
  const hasInflux = raw.INFLUX_URL !== undefined;
  if (hasKafka !== hasInflux && (options.kafkaNeedsStore ?? true)) {
    problems.push(
      'KAFKA_BROKERS and INFLUX_URL go together: set both for production, or neither for the embedded default',
    );
  }
  if ((raw.TLS_CERT === undefined) !== (raw.TLS_KEY === undefined)) {
    problems.push('TLS_CERT and TLS_KEY go together: set both to enable the TLS listener');
  }
  if (raw.TLS_CA !== undefined && raw.TLS_CERT === undefined) {
    problems.push('TLS_CA needs TLS_CERT and TLS_KEY: client certificates are checked on the TLS listener');
  }
  if (raw.MQTT_MAX_UNAUTHENTICATED_PER_ADDRESS > raw.MQTT_MAX_UNAUTHENTICATED) {
    problems.push('MQTT_MAX_UNAUTHENTICATED_PER_ADDRESS must not exceed MQTT_MAX_UNAUTHENTICATED');
  }
  if (raw.MAX_PAYLOAD_BYTES > raw.MQTT_MAX_PACKET_BYTES) {
    problems.push('MAX_PAYLOAD_BYTES must not exceed MQTT_MAX_PACKET_BYTES');
  }
  if (raw.RABBITMQ_URL !== undefined && !/^amqps?:\/\//.test(raw.RABBITMQ_URL)) {
    problems.push('RABBITMQ_URL must be an amqp:// or amqps:// URL');
  }
  if (raw.PULSAR_URL !== undefined && !/^https?:\/\//.test(raw.PULSAR_URL)) {
    problems.push("PULSAR_URL must be the broker's http:// or https:// web service URL (its WebSocket API is under /ws)");
  }
  if (raw.PULSAR_TOPIC !== undefined && !/^(non-)?persistent:\/\/[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(raw.PULSAR_TOPIC)) {
    problems.push('PULSAR_TOPIC must be persistent://tenant/namespace/topic (or non-persistent://…)');
  }
  const kafkaBrokers = (raw.KAFKA_BROKERS ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
  for (const broker of kafkaBrokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker)) problems.push(`KAFKA_BROKERS: "${broker}" is not host:port`);
  }
  if (problems.length > 0) {
    throw sluiceError(ErrorCodes.CONFIG_INVALID, `invalid configuration: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  return Object.freeze({ ...raw, mode: hasKafka ? 'production' : 'embedded', kafkaBrokers: Object.freeze(kafkaBrokers) });
}

export const configVariableNames: readonly string[] = Object.keys(configSchema.shape);

function pickKnown(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const known: Record<string, string | undefined> = {};
  for (const name of configVariableNames) known[name] = env[name];
  return known;
}

/** The rules file: `RULES_FILE`, else `rules.yaml` in `DATA_DIR`. */
export function rulesFilePath(config: Pick<Config, 'RULES_FILE' | 'DATA_DIR'>): string {
  return config.RULES_FILE ?? join(config.DATA_DIR, 'rules.yaml');
}
