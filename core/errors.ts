/**
 * Every error Sluice raises on purpose carries a stable code and whether retrying can help,
 * so callers branch on `code`/`retriable` instead of parsing messages.
 */
export interface SluiceError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly details?: Record<string, unknown>;
}

export function sluiceError(
  code: string,
  message: string,
  options: { retriable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
): SluiceError {
  const error = new Error(message, { cause: options.cause }) as Error & {
    code: string;
    retriable: boolean;
    details?: Record<string, unknown>;
  };
  error.name = 'SluiceError';
  error.code = code;
  error.retriable = options.retriable ?? false;
  if (options.details) error.details = options.details;
  return error;
}

export function isSluiceError(value: unknown): value is SluiceError {
  return value instanceof Error && typeof (value as { code?: unknown }).code === 'string' && 'retriable' in value;
}

export const ErrorCodes = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  KAFKA_UNAVAILABLE: 'KAFKA_UNAVAILABLE',
  KAFKA_REJECTED: 'KAFKA_REJECTED',
  KAFKAJS_PATCH_STALE: 'KAFKAJS_PATCH_STALE',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  STORE_REJECTED: 'STORE_REJECTED',
  STORE_UNAUTHORIZED: 'STORE_UNAUTHORIZED',
  QUEUE_FULL: 'QUEUE_FULL',
  CLOSED: 'CLOSED',
  /** A forward sink (RabbitMQ, Kinesis, Pulsar) that does not answer or did not acknowledge: retried. */
  SINK_UNAVAILABLE: 'SINK_UNAVAILABLE',
  /** A record a forward sink will never take (too large, unroutable): its dead letter carries the sink's reason. */
  SINK_REJECTED: 'SINK_REJECTED',
  /** A forward sink that refuses our credentials: retried slowly, readiness red. */
  SINK_UNAUTHORIZED: 'SINK_UNAUTHORIZED',
  /** The store writer's thread did not start, for a reason that is neither Kafka's nor the store's. */
  WRITER_UNAVAILABLE: 'WRITER_UNAVAILABLE',
  /** An alert notification (webhook) that could not be delivered; its dead letter carries the body. */
  NOTIFICATION_FAILED: 'NOTIFICATION_FAILED',
  /** A device id the registry refuses (`sluice devices add`): it must match the registry's DEVICE_ID_PATTERN. */
  DEVICE_ID_INVALID: 'DEVICE_ID_INVALID',
  /** A registry that cannot be used: a devices.json that does not parse, a registry topic Kafka will not serve. */
  REGISTRY_UNAVAILABLE: 'REGISTRY_UNAVAILABLE',
  /** A registration to import that is not `{hash, createdAt, format?}` with a hash scheme Sluice writes. */
  REGISTRATION_INVALID: 'REGISTRATION_INVALID',
  /** DATA_DIR/dashboard-token.sha256 holds no SHA-256 digest: delete it for a new token, or set DASHBOARD_TOKEN. */
  DASHBOARD_TOKEN_INVALID: 'DASHBOARD_TOKEN_INVALID',
  /** A simulator credentials file (what `sluice devices add --out` writes) that is not `{"<id>": {"secret": "…"}}`. */
  CREDENTIALS_INVALID: 'CREDENTIALS_INVALID',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * An error as it crosses a thread boundary. postMessage's structured clone keeps an Error's message, stack and
 * cause but drops its own properties — `code` and `retriable` among them — so they travel spelled out.
 */
export interface SerializedError {
  code?: string;
  message: string;
  retriable: boolean;
  stack?: string;
  cause?: SerializedError;
}

/**
 * `error` for postMessage: a SluiceError with its code and retriable flag; any other error without a code, and
 * `retriable` as the sender says. Its causes keep what identifies them (a Node error's `code`, say).
 */
export function serializeError(error: unknown, options: { retriable: boolean }): SerializedError {
  if (!(error instanceof Error)) return { message: String(error), retriable: options.retriable };
  const coded = isSluiceError(error);
  return {
    ...(coded ? { code: error.code } : {}),
    message: error.message,
    retriable: coded ? error.retriable : options.retriable,
    ...(error.stack ? { stack: error.stack } : {}),
    ...(error.cause !== undefined ? { cause: serializeCause(error.cause, 1) } : {}),
  };
}

function serializeCause(cause: unknown, depth: number): SerializedError {
  if (!(cause instanceof Error)) return { message: String(cause), retriable: false };
  const { code, retriable } = cause as { code?: unknown; retriable?: unknown };
  return {
    ...(typeof code === 'string' ? { code } : {}),
    message: cause.message,
    retriable: retriable === true,
    ...(cause.stack ? { stack: cause.stack } : {}),
    // Bounded: a chain of causes can be circular.
    ...(cause.cause !== undefined && depth < 8 ? { cause: serializeCause(cause.cause, depth + 1) } : {}),
  };
}

/** The SluiceError a serialized error stands for on this side of the boundary; `fallbackCode` when it had none. */
export function deserializeError(error: SerializedError, fallbackCode: ErrorCode): SluiceError {
  const rebuilt = sluiceError(error.code ?? fallbackCode, error.message, { retriable: error.retriable, cause: error.cause && deserializeCause(error.cause) });
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  return rebuilt;
}

/** A cause comes back as the error it was: its own code when it had one, no code made up for it. */
function deserializeCause(error: SerializedError): Error {
  const rebuilt = new Error(error.message, { cause: error.cause && deserializeCause(error.cause) });
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  Object.assign(rebuilt, { ...(error.code !== undefined ? { code: error.code } : {}), ...(error.retriable ? { retriable: true } : {}) });
  return rebuilt;
}
