import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const originalPath = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');

/** kafkajs' own grouping, evaluated from its file, whatever the module cache holds. */
function kafkajsOriginal(): (args: unknown) => Record<number, unknown[]> {
  const module = { exports: {} as unknown };
  new Function('module', 'exports', readFileSync(originalPath, 'utf8'))(module, module.exports);
  return module.exports as (args: unknown) => Record<number, unknown[]>;
}

describe('linear kafkajs grouping', () => {
  it('is what kafkajs loads once core/streams/kafka.ts is imported', async () => {
    const { groupMessagesPerPartition } = await import('../../../core/streams/kafkajs-grouping.js');
    await import('../../../core/streams/kafka.js');
    expect(require(originalPath)).toBe(groupMessagesPerPartition);
  });

  it('groups exactly as kafkajs does: same partitions, same order within each', async () => {
    const { groupMessagesPerPartition } = await import('../../../core/streams/kafkajs-grouping.js');
    const original = kafkajsOriginal();
    const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({ partitionId }));
    const messages = Array.from({ length: 500 }, (_, i) => ({ key: `d${(i * 7919) % 97}`, value: String(i) }));
    const partitioner = ({ message }: { message: unknown }) => Number((message as { key: string }).key.slice(1)) % 6;
    const args = { topic: 't', partitionMetadata, messages, partitioner };
    expect(groupMessagesPerPartition(args)).toEqual(original(args));
    expect(groupMessagesPerPartition({ ...args, partitionMetadata: [] })).toEqual(original({ ...args, partitionMetadata: [] }));
  });
});
