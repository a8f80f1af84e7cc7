import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { acknowledgedBeforeFailure, coordinatorFollowingOffsetManager, createSendMessages, nonNegativeDelayRequestQueue, groupMessagesPerPartition, kafkajsPath, stalePatches, type SendBroker, type SendCluster } from '../../../core/streams/kafkajs-patches.js';

const require = createRequire(import.meta.url);

/** A kafkajs file's own export, evaluated from the file itself, whatever the module cache holds. */
function kafkajsOriginal<T>(file: string): T {
  const path = kafkajsPath(file);
  const module = { exports: {} as unknown };
  new Function('module', 'exports', 'require', readFileSync(path, 'utf8'))(module, module.exports, createRequire(path));
  return module.exports as T;
}

type SendMessagesFactory = typeof createSendMessages;
const originalSendMessages = (): SendMessagesFactory => kafkajsOriginal<SendMessagesFactory>('src/producer/sendMessages.js');
const { createErrorFromCode } = require(kafkajsPath('src/protocol/error.js')) as { createErrorFromCode: (code: number) => Error };
const createRetry = require(kafkajsPath('src/retry/index.js')) as (options: object) => never;
/** NOT_LEADER_OR_FOLLOWER (6): what a broker answers for a partition it no longer leads. */
const notLeader = (): Error => createErrorFromCode(6);

interface Produced {
  nodeId: number;
  ok: boolean;
  partitions: { partition: number; firstSequence: number; keys: string[] }[];
}

/**
 * A cluster of brokers whose answers the test scripts: `answer(nodeId, attempt)` resolves (true), fails (an
 * error) or waits first. Metadata changes take effect on refreshMetadata(), as after a leader election.
 */
function scriptedCluster(options: {
  partitions: number;
  leadersBefore: Record<number, number>;
  leadersAfter: Record<number, number>;
  answer: (nodeId: number, attempt: number) => Promise<true | Error>;
}) {
  let leaders = { ...options.leadersBefore };
  const produced: Produced[] = [];
  const attempts = new Map<number, number>();
  const sequences = new Map<number, number>();
  const brokers = new Map<number, SendBroker & { nodeId: number }>();
  const brokerFor = (nodeId: number): SendBroker => {
    if (!brokers.has(nodeId)) {
      brokers.set(nodeId, {
        nodeId,
        async produce(request) {
          const attempt = (attempts.get(nodeId) ?? 0) + 1;
          attempts.set(nodeId, attempt);
          const topicData = request.topicData as { topic: string; partitions: { partition: number; firstSequence: number; messages: { key: string }[] }[] }[];
          const partitions = topicData.flatMap((t) => t.partitions.map((p) => ({ partition: p.partition, firstSequence: p.firstSequence, keys: p.messages.map((m) => m.key) })));
          const outcome = await options.answer(nodeId, attempt);
          produced.push({ nodeId, ok: outcome === true, partitions });
          if (outcome !== true) throw outcome;
          return { topics: topicData.map((t) => ({ topicName: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })) })) };
        },
      });
    }
    return brokers.get(nodeId)!;
  };
  const cluster: SendCluster & { findLeaderForPartitions(topic: string, partitions: string[]): Record<number, number[]> } = {
    refreshMetadataIfNecessary: async () => undefined,
    refreshMetadata: async () => {
      leaders = { ...options.leadersAfter };
    },
    findTopicPartitionMetadata: () => Array.from({ length: options.partitions }, (_, partitionId) => ({ partitionId, leader: leaders[partitionId] })),
    // Only kafkajs' own send path asks this (as kafkajs 2.2.4's cluster answers it).
    findLeaderForPartitions: (_topic, partitions) => {
      const result: Record<number, number[]> = {};
      for (const partition of partitions.map(Number)) (result[leaders[partition]!] ??= []).push(partition);
      return result;
    },
    findBroker: async ({ nodeId }) => brokerFor(Number(nodeId)),
    addMultipleTargetTopics: async () => undefined,
    isConnected: () => true,
    connect: async () => undefined,
    removeBroker: () => undefined,
  };
  // One request per broker at a time, as kafkajs' eosManager locks (maxInFlightRequests = 1).
  const locks = new Map<SendBroker, Promise<void>>();
  const unlocks = new Map<SendBroker, () => void>();
  const eosManager = {
    acquireBrokerLock: async (broker: SendBroker) => {
      while (locks.has(broker)) await locks.get(broker);
      locks.set(broker, new Promise<void>((resolve) => unlocks.set(broker, resolve)));
    },
    releaseBrokerLock: async (broker: SendBroker) => {
      locks.delete(broker);
      unlocks.get(broker)?.();
    },
    isTransactional: () => false,
    addPartitionsToTransaction: async () => undefined,
    getSequence: (_topic: string, partition: number) => sequences.get(partition) ?? 0,
    updateSequence: (_topic: string, partition: number, increment: number) => void sequences.set(partition, (sequences.get(partition) ?? 0) + increment),
    getTransactionalId: () => '',
    getProducerId: () => 1,
    getProducerEpoch: () => 0,
  };
  const deps = (retries: number) => ({
    logger: { debug: () => undefined, error: () => undefined },
    cluster,
    // Key `k<n>` goes to partition n % partitions.
    partitioner: ({ message }: { message: unknown }) => Number((message as { key: string }).key.slice(1)) % options.partitions,
    eosManager,
    retrier: createRetry({ retries, initialRetryTime: 1, maxRetryTime: 5 }),
  });
  /** Keys each partition got from answers that succeeded, in order. */
  const delivered = (): Map<number, string[]> => {
    const result = new Map<number, string[]>();
    for (const request of produced.filter((p) => p.ok)) for (const p of request.partitions) result.set(p.partition, [...(result.get(p.partition) ?? []), ...p.keys]);
    return result;
  };
  return { deps, produced, delivered, sequences };
}

const messages = (count: number) => Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: String(i) }));
const allKeys = (delivered: Map<number, string[]>) => [...delivered.values()].flat().sort();
const expectedKeys = (count: number) => messages(count).map((m) => m.key).sort();

/**
 * kafkajs issue #1303. Broker 2 leads partitions 1 and 3 and fails with NOT_LEADER: they moved to broker 1, which
 * has already answered for partitions 0 and 2 in the same send.
 */
const partitionsMovedToAnsweredBroker = {
  partitions: 4,
  leadersBefore: { 0: 1, 1: 2, 2: 1, 3: 2 },
  leadersAfter: { 0: 1, 1: 1, 2: 1, 3: 1 },
  answer: async (nodeId: number) => (nodeId === 2 ? notLeader() : true) as true | Error,
};

describe('kafkajs patches', () => {
  it('are what kafkajs loads, once core/streams/kafka.ts is imported', async () => {
    await import('../../../core/streams/kafka.js');
    // By name: a test runner may have evaluated the patches module before, in another module graph.
    expect((require(kafkajsPath('src/producer/groupMessagesPerPartition.js')) as { name: string }).name).toBe(groupMessagesPerPartition.name);
    expect((require(kafkajsPath('src/producer/sendMessages.js')) as { name: string }).name).toBe(createSendMessages.name);
    expect((require(kafkajsPath('src/consumer/offsetManager/index.js')) as { name: string }).name).toBe('CoordinatorFollowingOffsetManager');
    expect((require(kafkajsPath('src/network/requestQueue/index.js')) as { name: string }).name).toBe('NonNegativeDelayRequestQueue');
    // kafkajs' consumer group, which creates the offset manager, sees the same module.
    const consumerGroupPath = kafkajsPath('src/consumer/consumerGroup.js');
    expect(require.cache[consumerGroupPath]?.children.some((child) => (child.exports as { name?: string }).name === 'CoordinatorFollowingOffsetManager')).toBe(true);
  });

  it("are what kafkajs loads under Node's own ESM loader too, where kafkajs is listed before the patches run", () => {
    // Vitest evaluates imports in its own order; Node lists a CommonJS dependency in its cache before the importing
    // module's earlier imports run. Both must end with the patched files.
    const script = `
      await import(${JSON.stringify(new URL('../../../core/streams/kafka.ts', import.meta.url).href)});
      const { createRequire } = await import('node:module');
      const require = createRequire(${JSON.stringify(import.meta.url)});
      const name = (file) => require(require.resolve('kafkajs/' + file)).name;
      console.log(JSON.stringify([name('src/producer/sendMessages.js'), name('src/producer/groupMessagesPerPartition.js'), name('src/consumer/offsetManager/index.js')]));`;
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(output.trim().split('\n').at(-1)!)).toEqual(['createSendMessages', 'groupMessagesPerPartition', 'CoordinatorFollowingOffsetManager']);
  });

  it('were written for the installed kafkajs files (an upgrade must re-check them)', () => {
    expect(stalePatches()).toEqual([]);
  });

  describe('request queue scheduling', () => {
    type Queue = { scheduleCheckPendingRequests(): void; checkPendingRequests(): void; destroy(): void; throttleCheckTimeoutId: unknown };
    type QueueClass = new (options: object) => Queue;
    const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const queueOptions = { instrumentationEmitter: null, maxInFlightRequests: null, requestTimeout: 30_000, enforceRequestTimeout: true, clientId: 'test', broker: 'b:9092', logger: { namespace: () => logger } };
    /** Warnings Node emits while the queue schedules its check, and whether the check ran. */
    async function scheduleOnce(RequestQueue: QueueClass): Promise<{ warnings: string[]; checked: boolean }> {
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(warning.name);
      process.on('warning', onWarning);
      const queue = new RequestQueue(queueOptions);
      const check = queue.checkPendingRequests.bind(queue);
      // The check runs once the timer fires; the warning, if any, was emitted when it was set (on the next tick).
      const checked = await new Promise<boolean>((resolve) => {
        queue.checkPendingRequests = () => {
          check();
          resolve(true);
        };
        queue.scheduleCheckPendingRequests();
      });
      process.off('warning', onWarning);
      queue.destroy();
      return { warnings, checked };
    }

    it("kafkajs' own queue schedules a negative timeout when never throttled (the upstream bug, still in the installed kafkajs)", async () => {
      const original = kafkajsOriginal<QueueClass>('src/network/requestQueue/index.js');
      const { warnings, checked } = await scheduleOnce(original);
      expect(checked).toBe(true);
      // Node before 24 clamps it silently; Node 24 warns.
      if (Number(process.versions.node.split('.')[0]) >= 24) expect(warnings).toContain('TimeoutNegativeWarning');
    });

    it('the patched queue checks after the same 1 ms without a warning', async () => {
      const patched = nonNegativeDelayRequestQueue(kafkajsOriginal('src/network/requestQueue/index.js')) as unknown as QueueClass;
      expect(await scheduleOnce(patched)).toEqual({ warnings: [], checked: true });
    });
  });

  describe('linear grouping', () => {
    it('groups exactly as kafkajs does: same partitions, same order within each', () => {
      const original = kafkajsOriginal<typeof groupMessagesPerPartition>('src/producer/groupMessagesPerPartition.js');
      const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({ partitionId }));
      const list = Array.from({ length: 500 }, (_, i) => ({ key: `d${(i * 7919) % 97}`, value: String(i) }));
      const partitioner = ({ message }: { message: unknown }) => Number((message as { key: string }).key.slice(1)) % 6;
      const args = { topic: 't', partitionMetadata, messages: list, partitioner };
      expect(groupMessagesPerPartition(args)).toEqual(original(args));
      expect(groupMessagesPerPartition({ ...args, partitionMetadata: [] })).toEqual(original({ ...args, partitionMetadata: [] }));
    });
  });

  describe('send after a leader moved', () => {
    it("kafkajs' own send resolves without sending the moved partitions (the upstream bug, still in the installed kafkajs)", async () => {
      const cluster = scriptedCluster(partitionsMovedToAnsweredBroker);
      const send = originalSendMessages()(cluster.deps(3) as never);
      await expect(send({ acks: -1, topicMessages: [{ topic: 't', messages: messages(8) }] })).resolves.toBeDefined();
      expect(cluster.delivered().get(1)).toBeUndefined();
      expect(allKeys(cluster.delivered())).toHaveLength(4);
    });

    it('re-sends every partition not acknowledged to the broker that leads it now, with the same sequence numbers', async () => {
      const cluster = scriptedCluster(partitionsMovedToAnsweredBroker);
      const send = createSendMessages(cluster.deps(3) as never);
      const answers = await send({ acks: -1, topicMessages: [{ topic: 't', messages: messages(8) }] });
      expect(allKeys(cluster.delivered())).toEqual(expectedKeys(8));
      expect(answers).toHaveLength(4);
      // Partition 1 was first tried at sequence 0 on broker 2; the re-send to broker 1 uses 0 again, so a broker that
      // did write the first try would recognise the re-send as a duplicate.
      const partition1 = cluster.produced.flatMap((r) => r.partitions.filter((p) => p.partition === 1).map((p) => ({ nodeId: r.nodeId, firstSequence: p.firstSequence })));
      expect(partition1).toEqual([
        { nodeId: 2, firstSequence: 0 },
        { nodeId: 1, firstSequence: 0 },
      ]);
      // Partitions broker 1 acknowledged in the first attempt were not sent again.
      expect(cluster.produced.filter((r) => r.nodeId === 1 && r.partitions.some((p) => p.partition === 0))).toHaveLength(1);
      expect(cluster.sequences.get(1)).toBe(2);
    });

    it('lets a slow sibling request finish before retrying, so it is not sent twice', async () => {
      // Broker 1 takes 40 ms to answer its first request (the scenario: a busy broker), far longer than the retry
      // delay after broker 2's failure; kafkajs' per-broker lock makes a second request wait for the first.
      const scenario = {
        ...partitionsMovedToAnsweredBroker,
        answer: async (nodeId: number, attempt: number): Promise<true | Error> => {
          if (nodeId === 2) return notLeader();
          if (attempt === 1) await new Promise((resolve) => setTimeout(resolve, 40));
          return true;
        },
      };
      const patched = scriptedCluster(scenario);
      await createSendMessages(patched.deps(3) as never)({ acks: -1, topicMessages: [{ topic: 't', messages: messages(8) }] });
      expect(allKeys(patched.delivered())).toEqual(expectedKeys(8));

      // kafkajs' own send path, same script: partitions 0 and 2 reach broker 1 twice, under new sequence numbers.
      const original = scriptedCluster(scenario);
      await originalSendMessages()(original.deps(3) as never)({ acks: -1, topicMessages: [{ topic: 't', messages: messages(8) }] });
      expect(allKeys(original.delivered()).length).toBeGreaterThan(8);
    });

    it('retries a partition that has no leader yet instead of skipping it', async () => {
      const cluster = scriptedCluster({ partitions: 2, leadersBefore: { 0: 1, 1: -1 }, leadersAfter: { 0: 1, 1: 2 }, answer: async () => true });
      await createSendMessages(cluster.deps(3) as never)({ acks: -1, topicMessages: [{ topic: 't', messages: messages(6) }] });
      expect(allKeys(cluster.delivered())).toEqual(expectedKeys(6));
      expect(cluster.produced.filter((r) => r.partitions.some((p) => p.partition === 0))).toHaveLength(1);
    });

    it('says which messages were acknowledged when its retries run out, through kafkajs error wrappers', async () => {
      const cluster = scriptedCluster({ ...partitionsMovedToAnsweredBroker, leadersAfter: partitionsMovedToAnsweredBroker.leadersBefore });
      const sent = messages(8);
      const error = await createSendMessages(cluster.deps(2) as never)({ acks: -1, topicMessages: [{ topic: 't', messages: sent }] }).catch((e: unknown) => e);
      expect((error as Error).name).toBe('KafkaJSNumberOfRetriesExceeded');
      const acknowledged = acknowledgedBeforeFailure(error);
      expect(sent.filter((m) => acknowledged.has(m)).map((m) => m.key)).toEqual(['k0', 'k2', 'k4', 'k6']);
      expect(acknowledgedBeforeFailure(new Error('unrelated')).size).toBe(0);
    });
  });
  describe('offset commits after the group coordinator moved', () => {
    type OffsetManagerClass = Parameters<typeof coordinatorFollowingOffsetManager>[0];
    const OriginalOffsetManager = kafkajsOriginal<OffsetManagerClass>('src/consumer/offsetManager/index.js');
    const notCoordinator = (): Error => createErrorFromCode(16);

    /** Broker 1 coordinated the group and is gone (or demoted); FindCoordinator now answers broker 2. */
    function movedCoordinator(oldIsConnected: boolean) {
      const commits: { nodeId: number; offset: string }[] = [];
      const broker = (nodeId: number, connected: boolean, answer: () => Error | undefined) => ({
        nodeId,
        isConnected: () => connected,
        async offsetCommit(payload: { topics: { partitions: { offset: string }[] }[] }) {
          const error = answer();
          if (error) throw error;
          commits.push({ nodeId, offset: payload.topics[0]!.partitions[0]!.offset });
        },
      });
      const old = broker(1, oldIsConnected, notCoordinator);
      const current = broker(2, true, () => undefined);
      const committed: Record<string, Record<number, string>> = {};
      const cluster = { findBroker: async () => old, findGroupCoordinator: async () => current, refreshMetadata: async () => undefined, committedOffsets: () => committed };
      const options = { cluster, coordinator: old, memberAssignment: { t: [0] }, autoCommit: false, topicConfigurations: {}, instrumentationEmitter: { emit: () => undefined }, groupId: 'g', generationId: 1, memberId: 'm' };
      const commit = (Manager: OffsetManagerClass, offset: string) => {
        const manager = new (Manager as unknown as new (o: typeof options) => { commitOffsets(o: unknown): Promise<void> })(options);
        return { manager, commit: (next = offset) => manager.commitOffsets({ topics: [{ topic: 't', partitions: [{ partition: 0, offset: next }] }] }) };
      };
      return { commits, commit };
    }

    it("kafkajs' own offset manager keeps committing to the old coordinator (the upstream bug, still in the installed kafkajs)", async () => {
      const { commits, commit } = movedCoordinator(false);
      const { commit: once } = commit(OriginalOffsetManager, '5');
      await expect(once()).rejects.toMatchObject({ type: 'NOT_COORDINATOR_FOR_GROUP' });
      await expect(once()).rejects.toMatchObject({ type: 'NOT_COORDINATOR_FOR_GROUP' });
      expect(commits).toEqual([]);
    });

    it('asks the cluster for the coordinator when the old one is disconnected', async () => {
      const { commits, commit } = movedCoordinator(false);
      await commit(coordinatorFollowingOffsetManager(OriginalOffsetManager), '5').commit();
      expect(commits).toEqual([{ nodeId: 2, offset: '5' }]);
    });

    it('asks again after a connected broker answers that it is no longer the coordinator', async () => {
      const { commits, commit } = movedCoordinator(true);
      const { commit: next } = commit(coordinatorFollowingOffsetManager(OriginalOffsetManager), '5');
      await expect(next()).rejects.toMatchObject({ type: 'NOT_COORDINATOR_FOR_GROUP' });
      await next('6');
      expect(commits).toEqual([{ nodeId: 2, offset: '6' }]);
    });
  });
});
