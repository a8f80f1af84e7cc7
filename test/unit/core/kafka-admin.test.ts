import { describe, expect, it } from 'vitest';
import type { Admin, Kafka } from '../../support/kafka.js';
import { lazyAdmin, whileRetriable, withAdmin } from '../../../core/streams/kafka-admin.js';

/** A kafkajs client whose admins count their connects and disconnects; `failConnects` connects fail first. */
function fakeKafka(failConnects = 0) {
  const events: string[] = [];
  let made = 0;
  let failures = failConnects;
  const kafka = {
    admin: () => {
      const id = ++made;
      return {
        connect: async () => {
          events.push(`connect ${id}`);
          if (failures-- > 0) throw new Error('no broker');
        },
        disconnect: async () => void events.push(`disconnect ${id}`),
        describeCluster: async () => ({ id }),
      } as unknown as Admin;
    },
  } as unknown as Kafka;
  return { kafka, events };
}

describe('lazyAdmin', () => {
  it('connects one admin on first use, however many ask at once, and keeps it', async () => {
    const { kafka, events } = fakeKafka();
    const admin = lazyAdmin(kafka);
    const [a, b] = await Promise.all([admin.get(), admin.get()]);
    expect(a).toBe(b);
    expect(await admin.get()).toBe(a);
    expect(events).toEqual(['connect 1']);
  });

  it('does not keep a failed connect: the next use tries again', async () => {
    const { kafka, events } = fakeKafka(1);
    const admin = lazyAdmin(kafka);
    await expect(admin.get()).rejects.toThrow('no broker');
    await admin.get();
    expect(events).toEqual(['connect 1', 'connect 2']);
  });

  it('close disconnects and forgets it; the next use connects a new one', async () => {
    const { kafka, events } = fakeKafka();
    const admin = lazyAdmin(kafka);
    await admin.close();
    await admin.get();
    await admin.close();
    await admin.close();
    await admin.get();
    expect(events).toEqual(['connect 1', 'disconnect 1', 'connect 2']);
  });
});

describe('withAdmin', () => {
  it('disconnects after the work, and after work that failed', async () => {
    const { kafka, events } = fakeKafka();
    expect(await withAdmin(kafka, async () => 'done')).toBe('done');
    await expect(
      withAdmin(kafka, async () => {
        throw new Error('failed');
      }),
    ).rejects.toThrow('failed');
    expect(events).toEqual(['connect 1', 'disconnect 1', 'connect 2', 'disconnect 2']);
  });
});

describe('whileRetriable', () => {
  it('tries again while kafkajs calls the error retriable, and not after another error', async () => {
    let calls = 0;
    const retriable = Object.assign(new Error('leader not available'), { retriable: true });
    expect(await whileRetriable(async () => (++calls < 3 ? Promise.reject(retriable) : 'ok'))).toBe('ok');
    expect(calls).toBe(3);
    const fatal = Object.assign(new Error('not authorized'), { retriable: false });
    await expect(whileRetriable(() => Promise.reject(fatal))).rejects.toBe(fatal);
  });

  it('gives up after the deadline', async () => {
    const retriable = Object.assign(new Error('leader not available'), { retriable: true });
    await expect(whileRetriable(() => Promise.reject(retriable), 0)).rejects.toBe(retriable);
  });
});
