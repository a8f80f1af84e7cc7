import { describe, expect, it } from 'vitest';
import { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSConnectionError } from '../../support/kafka.js';
import { permanentKafkaErrorType } from '../../../core/streams/kafka-errors.js';

describe('permanentKafkaErrorType', () => {
  it('treats exhausted retries over a lost connection as an outage, not a verdict', () => {
    const exhausted = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: ECONNREFUSED'), { retryCount: 5, retryTime: 2000 });
    expect(exhausted.retriable).toBe(false); // what kafkajs says
    expect(permanentKafkaErrorType(exhausted)).toBeUndefined(); // what we do about it
  });

  it('finds a broker verdict about the records, even wrapped', () => {
    const tooLarge = new KafkaJSProtocolError({ type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false, message: 'too large' } as unknown as Error);
    expect(permanentKafkaErrorType(tooLarge)).toBe('MESSAGE_TOO_LARGE');
    expect(permanentKafkaErrorType(new KafkaJSNumberOfRetriesExceeded(tooLarge, { retryCount: 0, retryTime: 0 }))).toBe('MESSAGE_TOO_LARGE');
  });

  it('does not take a leadership change for a verdict', () => {
    const notLeader = new KafkaJSProtocolError({ type: 'NOT_LEADER_OR_FOLLOWER', code: 6, retriable: true, message: 'moved' } as unknown as Error);
    expect(permanentKafkaErrorType(notLeader)).toBeUndefined();
  });
});
