import { describe, expect, it } from 'vitest';
import {
  createRabbitmqSink,
  describeAmqpFailure,
  escapeRoutingWord,
  isAuthFailure,
  maxSizeFromCloseReason,
  publishOptionsOf,
  routingKeyOf,
  ROUTING_KEY_MAX_BYTES,
  unescapeRoutingWord,
} from '../../../consumers/sinks/rabbitmq.js';
import { ErrorCodes } from '../../../core/errors.js';
import { createLogger } from '../../../core/logger.js';
import type { Reading } from '../../../core/reading.js';
import { readingIdOf } from '../../../core/records.js';

describe('escapeRoutingWord', () => {
  it.each([
    ['dev-1', 'dev-1'],
    ['dev.1', 'dev%2E1'],
    ['a_b-C9', 'a_b-C9'],
    ['50%', '50%25'],
    ['*', '%2A'],
    ['#', '%23'],
    ['~x', '%7Ex'],
    ['two words', 'two%20words'],
    ['tab\t', 'tab%09'],
    ['°C', '%C2%B0C'],
    ['温度', '%E6%B8%A9%E5%BA%A6'],
    ['a/b:c@d', 'a/b:c@d'],
    ['', ''],
  ])('%j → %j', (text, word) => {
    expect(escapeRoutingWord(text)).toBe(word);
    expect(unescapeRoutingWord(word)).toBe(text);
  });

  it('never leaves a dot, a wildcard or a byte outside printable ASCII', () => {
    const word = escapeRoutingWord('.*#% ~\u0000\u007f\u00ff\u{1F600}');
    expect(word).toMatch(/^[\x21-\x7e]*$/);
    expect(word).not.toMatch(/[.*#~]/);
  });
});

describe('routingKeyOf', () => {
  it('is {device}.{metric}, two words whatever dots the names hold', () => {
    expect(routingKeyOf('dev-1', 'temperature')).toBe('dev-1.temperature');
    expect(routingKeyOf('dev.1', 'cpu.load')).toBe('dev%2E1.cpu%2Eload');
    expect(routingKeyOf('dev.1', 'cpu.load').split('.')).toHaveLength(2);
  });

  it('fits a key that would fit as it is', () => {
    const device = 'd'.repeat(128);
    const metric = 'm'.repeat(ROUTING_KEY_MAX_BYTES - 129);
    expect(routingKeyOf(device, metric)).toBe(`${device}.${metric}`);
  });

  it('cuts a long metric word first, ending it in ~ and a hash, and keeps the device word whole', () => {
    const key = routingKeyOf('dev-1', 'm'.repeat(400));
    expect(key.length).toBe(ROUTING_KEY_MAX_BYTES);
    const [device, metric] = key.split('.');
    expect(device).toBe('dev-1');
    expect(metric).toMatch(/^m+~[0-9a-f]{16}$/);
    expect(routingKeyOf('dev-1', `${'m'.repeat(400)}x`)).not.toBe(key);
  });

  it('cuts the device word too when its escaped dots alone pass the limit', () => {
    const device = `a${'.'.repeat(127)}`; // a valid device id: 382 bytes escaped
    const key = routingKeyOf(device, 'temperature');
    expect(key.length).toBeLessThanOrEqual(ROUTING_KEY_MAX_BYTES);
    const [deviceWord, metricWord] = key.split('.');
    expect(metricWord).toBe('temperature');
    expect(deviceWord).toMatch(/^a(%2E)*~[0-9a-f]{16}$/);
  });

  it('keeps both words within the limit when both are long, never cutting inside an escape', () => {
    const key = routingKeyOf(`a${'.'.repeat(127)}`, '°'.repeat(300));
    expect(key.length).toBeLessThanOrEqual(ROUTING_KEY_MAX_BYTES);
    expect(key.split('.')).toHaveLength(2);
    for (const word of key.split('.')) expect(word.replace(/~[0-9a-f]{16}$/, '')).toMatch(/^([^%]|%[0-9A-F]{2})*$/);
  });
});

describe('publishOptionsOf', () => {
  it('makes a persistent, mandatory JSON message carrying the reading id, its receive second and its names', () => {
    const reading: Reading = { deviceId: 'dev.1', metric: 'temperature', value: 21.5, ts: 1_700_000_000_123, timeNs: '1700000000123000000', receivedAt: 1_700_000_001_999 };
    const id = readingIdOf(reading);
    expect(publishOptionsOf({ reading, json: Buffer.from(JSON.stringify(reading)), id })).toEqual({
      persistent: true,
      mandatory: true,
      contentType: 'application/json',
      messageId: id,
      timestamp: 1_700_000_001,
      appId: 'sluice',
      headers: { 'device-id': 'dev.1', metric: 'temperature' },
    });
  });
});

describe('server replies', () => {
  it("reads the server's max message size from the reason it closed the channel with", () => {
    expect(maxSizeFromCloseReason('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 8343 is larger than configured max size 4096"')).toBe(4096);
    expect(maxSizeFromCloseReason('Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no exchange"')).toBeUndefined();
  });

  it('tells refused credentials from other failures', () => {
    expect(isAuthFailure(new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused"'))).toBe(true);
    expect(isAuthFailure(Object.assign(new Error('Channel closed by server: 403'), { code: 403 }))).toBe(true);
    expect(isAuthFailure(new Error('Connection closed: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - vhost other not found"'))).toBe(true);
    expect(isAuthFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5672'), { code: 'ECONNREFUSED' }))).toBe(false);
  });

  it('says what a connection failure is in a few words', () => {
    expect(describeAmqpFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5672'), { code: 'ECONNREFUSED' }))).toBe('connection refused');
    expect(describeAmqpFailure(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('connection reset');
    expect(describeAmqpFailure(new Error('connecting to x: timed out after 10000 ms'))).toMatch(/^timed out/);
    expect(describeAmqpFailure(new Error('Handshake terminated by server: 403 (ACCESS-REFUSED)'))).toMatch(/^credentials refused/);
  });
});

describe('createRabbitmqSink without a server', () => {
  const logger = createLogger('silent', { pretty: false });

  it('is named rabbitmq and cuts writes at maxRecords', () => {
    const sink = createRabbitmqSink({ url: 'amqp://127.0.0.1:1', exchange: 'x', queueType: 'classic', maxRecords: 250 }, { logger });
    expect(sink.name).toBe('rabbitmq');
    expect(sink.limits.maxRecords).toBe(250);
    expect(sink.health()).toEqual({ connected: false, note: 'not connected yet' });
  });

  it('fails a write fast with SINK_UNAVAILABLE when nothing listens, and says why in health()', async () => {
    const sink = createRabbitmqSink({ url: 'amqp://127.0.0.1:1', exchange: 'x', queueType: 'classic', maxRecords: 10 }, { logger });
    const reading: Reading = { deviceId: 'd', metric: 'm', value: 1, ts: 1, timeNs: '1000000', receivedAt: 1 };
    await expect(sink.write([{ reading, json: Buffer.from('{}'), id: readingIdOf(reading) }])).rejects.toMatchObject({ code: ErrorCodes.SINK_UNAVAILABLE });
    await expect(sink.ping()).resolves.toBe(false);
    expect(sink.health()).toEqual({ connected: false, note: 'connection refused' });
    await sink.close();
    await expect(sink.write([])).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
  });
});
