import { describe, expect, it } from 'vitest';
import { capturedLogger } from '../../support/logs.js';
import { relayLogLine, threadLogger } from '../../../core/log-relay.js';
import { deserializeError, ErrorCodes, serializeError, sluiceError } from '../../../core/errors.js';

/** Logged errors have one shape (core/logger.ts): the error under `err`, with its stack, code, retriable and cause. */
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED', errno: -111 });
const unavailable = () => sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, 'queue not reachable', { retriable: true, cause: refused(), details: { brokers: 1 } });

describe('logged errors', () => {
  it('keep their message, stack, code, retriable, details and cause (with its own code and stack)', () => {
    const { logger, lines } = capturedLogger();
    logger.error({ err: unavailable() }, 'queue not accepting records');
    expect(lines[0]!.err).toMatchObject({
      type: 'Error',
      message: 'queue not reachable',
      stack: expect.stringMatching(/^SluiceError: queue not reachable\n\s+at /),
      code: 'KAFKA_UNAVAILABLE',
      retriable: true,
      details: { brokers: 1 },
      cause: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:9092', code: 'ECONNREFUSED', errno: -111, stack: expect.stringMatching(/^Error: connect ECONNREFUSED/) },
    });
  });

  it('keep what was thrown when it is not an Error', () => {
    const { logger, lines } = capturedLogger();
    logger.warn({ err: 'a string' }, 'odd throw');
    logger.warn({ err: undefined }, 'nothing thrown');
    expect(lines.map((l) => l.err)).toEqual(['a string', undefined]);
  });

  it("keep that shape when relayed from a worker thread's logger to the main thread's", () => {
    const thread: string[] = [];
    threadLogger('debug', 'bridge', (line) => thread.push(line)).error({ err: unavailable() }, 'queue not accepting records');
    const { logger, lines } = capturedLogger();
    for (const line of structuredClone(thread)) relayLogLine(logger, line);
    const inThread = JSON.parse(thread[0]!) as { err: Record<string, unknown> };
    expect(inThread.err).toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true, cause: { code: 'ECONNREFUSED' } });
    expect(lines[0]).toMatchObject({ thread: 'bridge', level: 50, msg: 'queue not accepting records' });
    // Relayed as it was written in the thread: not serialized a second time (which would make its type 'Object').
    expect(lines[0]!.err).toEqual(inThread.err);
  });
});

describe('errors across postMessage', () => {
  it('keep code, retriable, stack and cause, which a structured clone of the Error drops in part', () => {
    const original = unavailable();
    expect(structuredClone(original)).not.toHaveProperty('code');
    const back = deserializeError(structuredClone(serializeError(original, { retriable: false })), ErrorCodes.WRITER_UNAVAILABLE);
    expect(back).toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true, message: 'queue not reachable', stack: original.stack });
    expect(back.cause).toMatchObject({ message: 'connect ECONNREFUSED 127.0.0.1:9092', code: 'ECONNREFUSED', stack: (original.cause as Error).stack });
  });

  it('give an error without a code the fallback code and the retriable flag the sender chose, and invent no code for a cause', () => {
    const plain = new Error('producer is disconnected', { cause: new Error('socket hang up') });
    expect(serializeError(plain, { retriable: true })).toMatchObject({ message: 'producer is disconnected', retriable: true, cause: { message: 'socket hang up' } });
    expect(serializeError(plain, { retriable: true })).not.toHaveProperty('code');
    const back = deserializeError(serializeError(plain, { retriable: true }), ErrorCodes.KAFKA_UNAVAILABLE);
    expect(back).toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true });
    expect(back.cause).not.toHaveProperty('code');
    expect(serializeError('text', { retriable: false })).toEqual({ message: 'text', retriable: false });
  });

  it('end a circular chain of causes', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.assign(a, { cause: b });
    let depth = 0;
    for (let e = serializeError(a, { retriable: true }).cause; e; e = e.cause) depth++;
    expect(depth).toBeLessThan(10);
  });
});
