import { describe, expect, it } from 'vitest';
import { createLogLimiter, refusalOfError, refusalOfTopic, REFUSALS } from '../../../gateway/refusals.js';

const limits = { maxTopicLevels: 16, maxTopicBytes: 512 };

describe('refusalOfTopic', () => {
  it.each([
    ['devices/d1/telemetry', undefined],
    [`devices/d1/telemetry/${Array.from({ length: 13 }, (_, i) => `l${i}`).join('/')}`, undefined],
    [`devices/d1/telemetry/${Array.from({ length: 14 }, (_, i) => `l${i}`).join('/')}`, 'topic-levels'],
    [`devices/d1/telemetry/${'x'.repeat(500)}`, 'topic-too-long'],
    ['devices/d1/telemetry/caf\uFFFD', 'invalid-utf8'],
    ['devices/d1/tele\u0000metry', 'invalid-utf8'],
  ])('%s → %s', (topic, reason) => {
    expect(refusalOfTopic(topic, limits)?.reason).toBe(reason);
  });

  it('says how deep the topic was and what the limit is', () => {
    expect(refusalOfTopic('a/'.repeat(20) + 'b', limits)?.detail).toBe('the topic has 21 levels; the limit is 16');
  });
});

describe('refusalOfError', () => {
  it.each([
    ['connect did not arrive in time', 'connect-timeout'],
    ['keep alive timeout', 'keepalive-timeout'],
    ['topic has too many levels', 'topic-levels'],
    ['# is not allowed in PUBLISH', 'invalid-topic'],
    ['empty topic not allowed in PUBLISH', 'invalid-topic'],
    ['maxInflightInbound exceeded: 1000 inbound QoS 2 messages already awaiting PUBREL', 'inflight-limit'],
    ['Invalid protocolId', 'malformed-packet'],
    ['Packet too short', 'malformed-packet'],
    ['Invalid header flag bits, must be 0x0 for connack packet', 'malformed-packet'],
    ['unacceptable protocol version', 'unsupported-protocol'],
    ['identifier rejected', 'client-id-rejected'],
    ['Invalid protocol', 'protocol-violation'],
    ['read ECONNRESET', undefined],
  ])('%s → %s', (message, reason) => {
    expect(refusalOfError(message)).toBe(reason);
  });

  it('names only reasons of the README table', () => {
    for (const message of ['keep alive timeout', 'Packet too short', 'identifier rejected']) expect(Object.keys(REFUSALS)).toContain(refusalOfError(message));
  });
});

describe('createLogLimiter', () => {
  it('emits one line per key and interval and counts what it left out', () => {
    let now = 0;
    const limit = createLogLimiter(10_000, () => now);
    const lines: string[] = [];
    for (let i = 0; i < 5; i++) limit('a', (suppressed) => lines.push(`a+${suppressed}`));
    limit('b', (suppressed) => lines.push(`b+${suppressed}`));
    now = 10_000;
    limit('a', (suppressed) => lines.push(`a+${suppressed}`));
    expect(lines).toEqual(['a+0', 'b+0', 'a+4']);
  });
});

describe('the README refusal table', () => {
  it('lists every refusal reason the gateway can give, and no other', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('### Refusals');
    const table = readme.slice(start, readme.indexOf('\n## ', start));
    const listed = [...table.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]);
    expect(listed).toEqual(Object.keys(REFUSALS));
  });
});
