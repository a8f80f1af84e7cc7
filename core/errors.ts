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
  /** The store writer's thread did not start, for a reason that is neither Kafka's nor the store's. */
  WRITER_UNAVAILABLE: 'WRITER_UNAVAILABLE',
  /** An alert notification (webhook) that could not be delivered; its dead letter carries the body. */
  NOTIFICATION_FAILED: 'NOTIFICATION_FAILED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];
