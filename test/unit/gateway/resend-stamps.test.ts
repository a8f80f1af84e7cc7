import { describe, expect, it } from 'vitest';
import { createResendStamps, type ResendKey } from '../../../gateway/resend-stamps.js';

function counter() {
  let next = 1000n;
  return () => (next += 1000n);
}

const publish = (extra: Partial<ResendKey> = {}): ResendKey => ({ clientId: 'c1', messageId: 7, qos: 1, topic: 'devices/c1/telemetry', payload: Buffer.from('{"a":1}'), ...extra });

describe('resend stamps', () => {
  it('gives a DUP resend of a publish it stamped (same client, packet id, topic, payload) the first stamp', () => {
    const stamps = createResendStamps({ maxPerClient: 8, maxClients: 8 });
    const fresh = counter();
    const first = stamps.stampOf(publish(), fresh);
    expect(stamps.stampOf(publish({ dup: true }), fresh)).toBe(first);
  });

  it.each([
    ['without DUP (a new message reusing an acknowledged id)', { dup: false }],
    ['with another payload', { dup: true, payload: Buffer.from('{"a":2}') }],
    ['on another topic', { dup: true, topic: 'devices/c1/telemetry/$json' }],
    ['with another packet id', { dup: true, messageId: 8 }],
    ['from another client', { dup: true, clientId: 'c2' }],
  ])('stamps anew a publish %s', (_name, extra) => {
    const stamps = createResendStamps({ maxPerClient: 8, maxClients: 8 });
    const fresh = counter();
    const first = stamps.stampOf(publish(), fresh);
    expect(stamps.stampOf(publish(extra), fresh)).not.toBe(first);
  });

  it('never remembers QoS 0 publishes', () => {
    const stamps = createResendStamps({ maxPerClient: 8, maxClients: 8 });
    stamps.stampOf(publish({ qos: 0, messageId: undefined }), counter());
    expect(stamps.size()).toBe(0);
  });

  it('forgets the oldest packet ids of a client beyond maxPerClient, and the client it met first beyond maxClients', () => {
    const stamps = createResendStamps({ maxPerClient: 2, maxClients: 2 });
    const fresh = counter();
    const first = stamps.stampOf(publish({ messageId: 1 }), fresh);
    stamps.stampOf(publish({ messageId: 2 }), fresh);
    stamps.stampOf(publish({ messageId: 3 }), fresh);
    expect(stamps.stampOf(publish({ messageId: 1, dup: true }), fresh)).not.toBe(first);

    const ofC2 = stamps.stampOf(publish({ clientId: 'c2' }), fresh);
    const ofC1 = stamps.stampOf(publish({ clientId: 'c1', messageId: 9 }), fresh);
    // c1 was met first: publishing again does not move it (oldest-first, not least-recently-used), so c3 pushes it out.
    stamps.stampOf(publish({ clientId: 'c3' }), fresh);
    expect(stamps.size()).toBe(2);
    expect(stamps.stampOf(publish({ clientId: 'c2', dup: true }), fresh)).toBe(ofC2);
    expect(stamps.stampOf(publish({ clientId: 'c1', messageId: 9, dup: true }), fresh)).not.toBe(ofC1);
  });
});
