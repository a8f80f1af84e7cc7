import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/logger.js';
import { createProducerThread, toColumns } from '../../../core/streams/kafka-producer-thread.js';
import type { ProducerThreadInput } from '../../../core/streams/kafka-producer-protocol.js';

const standIn = new URL('../../support/producer-thread-stand-in.mjs', import.meta.url);

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('debug', { destination }), lines };
}

function threadInput(): ProducerThreadInput & { sends: SharedArrayBuffer } {
  return { brokers: ['127.0.0.1:1'], clientId: 't', topicPrefix: 't', partitions: 1, replicationFactor: 1, compression: 'none', logLevel: 'debug', sends: new SharedArrayBuffer(4) };
}

describe('kafka producer thread', () => {
  it('hands records over as columns, timestamps kept and missing ones as NaN', () => {
    const columns = toColumns('telemetry', [
      { key: 'd1', value: '{"a":1}', timestamp: 1_700_000_000_123 },
      { key: 'd2', value: '{"b":2}' },
    ]);
    expect(columns.stream).toBe('telemetry');
    expect(columns.keys).toEqual(['d1', 'd2']);
    expect(columns.values).toEqual(['{"a":1}', '{"b":2}']);
    expect(columns.timestamps[0]).toBe(1_700_000_000_123);
    expect(Number.isNaN(columns.timestamps[1])).toBe(true);
  });

  it('fails the sends in hand as retriable when the thread dies, starts a new thread for the next send, and relays its log lines', async () => {
    const { logger, lines } = capturedLogger();
    const thread = createProducerThread(threadInput(), logger, standIn);
    try {
      const producer = await thread.createProducer();
      const lost = producer.send('telemetry', [{ key: 'd1', value: 'v1', timestamp: 5 }]);
      await expect(lost).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true });
      expect(lines.some((l) => l.msg === 'kafka producer thread exited; the next send starts a new one' && l.exitCode === 3)).toBe(true);

      await producer.sendBatch([{ stream: 'events', records: [{ key: 'd1', value: 'v1', timestamp: 5 }, { key: 'd2', value: 'v2' }] }]);
      const received = lines.find((l) => l.msg === 'stand-in received');
      expect(received).toMatchObject({ module: 'kafka-producer-thread', stream: 'events', keys: ['d1', 'd2'], values: ['v1', 'v2'], timestamps: ['5', 'NaN'] });
    } finally {
      await thread.close();
    }
  });

  it("passes the thread's coded errors on unchanged", async () => {
    const input = threadInput();
    new Int32Array(input.sends)[0] = 1; // no simulated crash in this test
    const thread = createProducerThread(input, createLogger('silent'), standIn);
    try {
      const producer = await thread.createProducer();
      await expect(producer.send('telemetry', [{ key: 'refused', value: 'x' }])).rejects.toMatchObject({ code: 'KAFKA_REJECTED', retriable: false, message: 'refused by the stand-in' });
    } finally {
      await thread.close();
    }
  });

  it('refuses sends after close', async () => {
    const thread = createProducerThread(threadInput(), createLogger('silent'), standIn);
    const producer = await thread.createProducer();
    await thread.close();
    await expect(producer.send('telemetry', [{ key: 'd1', value: 'x' }])).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
