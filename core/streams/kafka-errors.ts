import { sluiceError, ErrorCodes, type SluiceError } from '../errors.js';

/**
 * What a Kafka error means to Sluice: kafkajs errors (with their `type` and `retriable`) become Sluice coded
 * errors, or verdicts the callers act on.
 */

/** Broker answers that no retry can change; anything else (including "retries exhausted") is an outage. */
const PERMANENT_KAFKA_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_VERSION',
]);

/**
 * kafkajs marks "retries exhausted" as non-retriable, but for us a broker that is down is an outage to
 * wait out, never a reason to drop the device's connection. Only broker verdicts about the records
 * themselves are permanent. The verdict may sit a few `cause`/`originalError` levels deep.
 */
export function permanentKafkaErrorType(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string' && PERMANENT_KAFKA_ERRORS.has(type)) return type;
    current = (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A send that failed, as Sluice says it: KAFKA_REJECTED (permanent, the broker refused the records themselves) or
 * KAFKA_UNAVAILABLE (an outage, retriable). `acknowledged` of the `records` were written before the failure.
 */
export function sendFailure(error: unknown, records: number, acknowledged: number): SluiceError {
  const permanent = permanentKafkaErrorType(error);
  return sluiceError(
    permanent ? ErrorCodes.KAFKA_REJECTED : ErrorCodes.KAFKA_UNAVAILABLE,
    `kafka did not accept ${records - acknowledged} of ${records} records: ${(error as Error).message}${permanent ? ` (${permanent})` : ''}`,
    { retriable: !permanent, cause: error },
  );
}

/** kafkajs's own verdict: the broker (or the client) says trying the same request again may succeed. */
export function isRetriableKafkaError(error: unknown): boolean {
  return (error as { retriable?: boolean }).retriable === true;
}

/**
 * Offsets that cannot be committed because the group moved on (this member timed out, a rebalance
 * started) are not a failure: the new owner of the partition re-reads from the last commit, and
 * writing a reading twice is one point. Throwing here would crash the consumer for good.
 */
const GROUP_MOVED_ON = new Set(['UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'NOT_COORDINATOR']);

/** The error's type when a commit failed only because the group moved on; undefined for a real failure. */
export function groupMovedOn(error: unknown): string | undefined {
  const type = (error as { type?: string }).type;
  return type !== undefined && GROUP_MOVED_ON.has(type) ? type : undefined;
}
