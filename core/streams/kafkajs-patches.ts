/**
 * Every change Sluice makes to kafkajs internals, in one place (ARCHITECTURE.md "Design rules" 7). kafkajs 2.2.4
 * is its last release (2023) and the project is unmaintained, so fixes that upstream has not released are applied here: each
 * replacement is put in Node's CJS module cache before kafkajs loads, so kafkajs' own `require` picks it up.
 * This module must be imported before kafkajs (core/streams/kafka.ts does, first).
 *
 * Each patch names the kafkajs file it replaces (or extends) and the SHA-256 of the file it was read from. When kafkajs
 * changes (an upgrade, another fork), loading fails with KAFKAJS_PATCH_STALE instead of silently running a
 * replacement written for other code: read the new file, re-check the patch, update the hash.
 *
 * Tests: test/unit/core/kafkajs-patches.test.ts runs each patch against kafkajs' original file and shows the
 * original misbehaving (so a fixed upstream release is noticed too).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { sluiceError, ErrorCodes } from '../errors.js';

const require = createRequire(import.meta.url);

export const KAFKAJS_VERSION = '2.2.4';

/** The resolved path of a kafkajs file, e.g. `src/producer/sendMessages.js`. */
export function kafkajsPath(file: string): string {
  return require.resolve(`kafkajs/${file}`);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Patch 1: linear grouping of a send's records by partition.                                                    */
/* kafkajs groups with `[...current, message]` per record: quadratic in the records of one partition, 5 % of    */
/* the bridge thread at 20,000 readings/s (batches of ~1,500). Same result, linear. No upstream issue.          */
/* ------------------------------------------------------------------------------------------------------------ */

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;

export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: { topic: string; partitionMetadata: unknown[]; messages: unknown[]; partitioner: Partitioner }): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  const grouped: Record<number, unknown[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (grouped[partition] ??= []).push(message);
  }
  return grouped;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Patch 2: a failed send re-sends every partition not yet acknowledged, to the broker that leads it now.       */
/* kafkajs issue #1303 ("losing data when one node of the cluster is lost"); fix proposed in pull request #1798 */
/* (open, unreleased). kafkajs' sendMessages remembers answers per *broker*: after broker A fails, it retries   */
/* only brokers that have not answered. When A's partitions moved to broker B, which had already answered for  */
/* its own partitions, A's records are never re-sent and the send resolves: acknowledged, never in Kafka        */
/* (Sluice lost 65 of 240,000 readings on a SIGTERM of one broker of three, 24 on a SIGKILL).                    */
/*                                                                                                              */
/* This version keeps acknowledgements per *partition*, and also:                                               */
/* - fixes each message's partition at the first attempt that has metadata (as the Java client does), so a     */
/*   retry never moves a record to another partition;                                                          */
/* - waits for every request of an attempt to settle before retrying: kafkajs retried while a sibling request   */
/*   was still in flight, which sent its records again under new sequence numbers (a duplicate in Kafka);      */
/* - treats a partition without a leader (mid-election) as stale metadata to retry, where kafkajs skipped       */
/*   partitions missing from its metadata without sending them;                                                */
/* - when the retries run out, tells the caller which messages *were* acknowledged (`acknowledgedMessages` on   */
/*   the error), so the caller's own retry re-sends only the rest: re-sending an acknowledged record would get  */
/*   a new sequence number and be written twice.                                                               */
/* Idempotence is kept: a failed request's sequence numbers are rolled back exactly as kafkajs does, so a       */
/* re-send of records the broker did write is recognised by the broker as a duplicate.                         */
/* ------------------------------------------------------------------------------------------------------------ */

/** The kafkajs internals the send path uses (kafkajs 2.2.4 src/cluster/index.js, eosManager, broker). */
export interface SendCluster {
  refreshMetadataIfNecessary(): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number; leader?: number | null }[];
  findBroker(query: { nodeId: string }): Promise<SendBroker>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  isConnected(): boolean;
  connect(): Promise<void>;
  removeBroker(query: { host: string; port: number }): void;
}
export interface SendBroker {
  produce(request: Record<string, unknown>): Promise<unknown>;
}
interface EosManager {
  acquireBrokerLock(broker: SendBroker): Promise<void>;
  releaseBrokerLock(broker: SendBroker): Promise<void>;
  isTransactional(): boolean;
  addPartitionsToTransaction(topicData: TopicData[]): Promise<void>;
  getSequence(topic: string, partition: number): number;
  updateSequence(topic: string, partition: number, increment: number): void;
  getTransactionalId(): string;
  getProducerId(): unknown;
  getProducerEpoch(): unknown;
}
interface TopicData {
  topic: string;
  partitions: { partition: number; messages: unknown[]; firstSequence?: number }[];
}
interface KafkaLogger {
  debug(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
}
type Retrier = <T>(fn: (bail: (error: Error) => void, retryCount: number, retryTime: number) => Promise<T>) => Promise<T>;
interface SendMessagesDeps {
  logger: KafkaLogger;
  cluster: SendCluster;
  partitioner: Partitioner;
  eosManager: EosManager;
  retrier: Retrier;
}
interface SendRequest {
  acks: number;
  timeout?: number;
  compression?: number;
  topicMessages: { topic: string; messages: unknown[] }[];
}
interface KafkaError extends Error {
  type?: string;
  retriable?: boolean;
  host?: string;
  port?: number;
  /** Set on a failed send: the messages that Kafka did acknowledge before it failed. */
  acknowledgedMessages?: ReadonlySet<unknown>;
}

/** Which of a send's messages Kafka acknowledged before the send failed (empty when unknown). */
export function acknowledgedBeforeFailure(error: unknown): ReadonlySet<unknown> {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const acknowledged = (current as KafkaError).acknowledgedMessages;
    if (acknowledged) return acknowledged;
    current = (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
  return new Set();
}

export function createSendMessages({ logger, cluster, partitioner, eosManager, retrier }: SendMessagesDeps) {
  const kafkaErrors = require(kafkajsPath('src/errors.js')) as { KafkaJSMetadataNotLoaded: new (message: string) => Error };
  const { staleMetadata } = require(kafkajsPath('src/protocol/error.js')) as { staleMetadata: (error: unknown) => boolean };
  const createTopicData = require(kafkajsPath('src/producer/createTopicData.js')) as (data: { topic: string; partitions: number[]; messagesPerPartition: Record<number, unknown[]> }[]) => TopicData[];
  const responseSerializer = require(kafkajsPath('src/producer/responseSerializer.js')) as (response: unknown) => { topicName: string; partition: number }[];

  return async ({ acks, timeout, compression, topicMessages }: SendRequest): Promise<unknown[]> => {
    const topics = topicMessages.map(({ topic }) => topic);
    /** topic → partition → messages, fixed at the first attempt that had metadata. */
    let grouped: Map<string, Record<number, unknown[]>> | undefined;
    /** `topic:partition` → the broker's answer for it (acks = 0: none). */
    const acknowledged = new Map<string, unknown[]>();
    const keyOf = (topic: string, partition: number): string => `${topic}:${partition}`;

    function groupOnce(): Map<string, Record<number, unknown[]>> {
      if (grouped) return grouped;
      const result = new Map<string, Record<number, unknown[]>>();
      for (const { topic, messages } of topicMessages) {
        const partitionMetadata = cluster.findTopicPartitionMetadata(topic);
        if (partitionMetadata.length === 0) {
          logger.debug('Producing to topic without metadata', { topic });
          throw new kafkaErrors.KafkaJSMetadataNotLoaded('Producing to topic without metadata');
        }
        const forTopic = result.get(topic) ?? {};
        for (const [partition, list] of Object.entries(groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }))) {
          (forTopic[Number(partition)] ??= []).push(...list);
        }
        result.set(topic, forTopic);
      }
      grouped = result;
      return result;
    }

    /** Leader node id → what it must be sent now: every partition not acknowledged yet. */
    function pendingPerLeader(): Map<string, { topic: string; partitions: number[]; messagesPerPartition: Record<number, unknown[]> }[]> {
      const perLeader = new Map<string, { topic: string; partitions: number[]; messagesPerPartition: Record<number, unknown[]> }[]>();
      for (const [topic, messagesPerPartition] of groupOnce()) {
        const metadata = cluster.findTopicPartitionMetadata(topic);
        for (const partition of Object.keys(messagesPerPartition).map(Number)) {
          if (acknowledged.has(keyOf(topic, partition))) continue;
          const leader = metadata.find((p) => p.partitionId === partition)?.leader;
          if (leader === null || leader === undefined || leader < 0) {
            // Mid-election: no one to send to yet. Stale metadata, so the retry refreshes it first.
            throw Object.assign(new Error(`No leader for ${topic} partition ${partition}`), { name: 'KafkaJSProtocolError', type: 'LEADER_NOT_AVAILABLE', retriable: true });
          }
          const forLeader = perLeader.get(String(leader)) ?? [];
          let entry = forLeader.find((e) => e.topic === topic);
          if (!entry) forLeader.push((entry = { topic, partitions: [], messagesPerPartition }));
          entry.partitions.push(partition);
          perLeader.set(String(leader), forLeader);
        }
      }
      return perLeader;
    }

    async function produceTo(nodeId: string, topicDataForBroker: { topic: string; partitions: number[]; messagesPerPartition: Record<number, unknown[]> }[]): Promise<void> {
      const broker = await cluster.findBroker({ nodeId });
      const topicData = createTopicData(topicDataForBroker);
      await eosManager.acquireBrokerLock(broker);
      try {
        if (eosManager.isTransactional()) await eosManager.addPartitionsToTransaction(topicData);
        for (const { topic, partitions } of topicData) {
          for (const entry of partitions) {
            entry.firstSequence = eosManager.getSequence(topic, entry.partition);
            eosManager.updateSequence(topic, entry.partition, entry.messages.length);
          }
        }
        let response: unknown;
        try {
          response = await broker.produce({
            transactionalId: eosManager.isTransactional() ? eosManager.getTransactionalId() : undefined,
            producerId: eosManager.getProducerId(),
            producerEpoch: eosManager.getProducerEpoch(),
            acks,
            timeout,
            compression,
            topicData,
          });
        } catch (error) {
          // Same sequence numbers next time: a record the broker did write is then recognised as a duplicate.
          for (const { topic, partitions } of topicData) {
            for (const entry of partitions) eosManager.updateSequence(topic, entry.partition, -entry.messages.length);
          }
          throw error;
        }
        const answers = acks !== 0 ? responseSerializer(response) : [];
        for (const { topic, partitions } of topicData) {
          for (const { partition } of partitions) {
            acknowledged.set(
              keyOf(topic, partition),
              answers.filter((a) => a.topicName === topic && a.partition === partition),
            );
          }
        }
      } finally {
        await eosManager.releaseBrokerLock(broker);
      }
    }

    async function attempt(): Promise<unknown[]> {
      await cluster.refreshMetadataIfNecessary();
      const requests = [...pendingPerLeader()].map(([nodeId, data]) => produceTo(nodeId, data));
      // Every request settles before a retry: one still in flight would otherwise be sent again.
      const failure = (await Promise.allSettled(requests)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) throw failure.reason;
      return [...acknowledged.values()].flat();
    }

    try {
      return await retrier(async (bail, retryCount, retryTime) => {
        await cluster.addMultipleTargetTopics(topics);
        try {
          return await attempt();
        } catch (caught) {
          const e = caught as KafkaError;
          if (e.name === 'KafkaJSConnectionClosedError') cluster.removeBroker({ host: e.host!, port: e.port! });
          if (!cluster.isConnected()) {
            logger.debug(`Cluster has disconnected, reconnecting: ${e.message}`, { retryCount, retryTime });
            await cluster.connect();
            await cluster.refreshMetadata();
            throw e;
          }
          if (
            staleMetadata(e) ||
            e.name === 'KafkaJSMetadataNotLoaded' ||
            e.name === 'KafkaJSConnectionError' ||
            e.name === 'KafkaJSConnectionClosedError' ||
            (e.name === 'KafkaJSProtocolError' && e.retriable)
          ) {
            logger.error(`Failed to send messages: ${e.message}`, { retryCount, retryTime });
            await cluster.refreshMetadata();
            throw e;
          }
          logger.error(`${e.message}`, { retryCount, retryTime });
          if (e.retriable) throw e;
          bail(e);
          return [];
        }
      });
    } catch (error) {
      const done = new Set<unknown>();
      for (const [topic, messagesPerPartition] of grouped ?? []) {
        for (const [partition, messages] of Object.entries(messagesPerPartition)) {
          if (acknowledged.has(keyOf(topic, Number(partition)))) for (const message of messages) done.add(message);
        }
      }
      if (error && typeof error === 'object') (error as KafkaError).acknowledgedMessages = done;
      throw error;
    }
  };
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Patch 3: offset commits follow the group coordinator when it moves.                                          */
/* kafkajs pull request #1779 ("re-discover coordinator after NOT_COORDINATOR_FOR_GROUP", open, unreleased).    */
/* kafkajs' OffsetManager keeps the coordinator it was given at the last join. When that broker dies,           */
/* getCoordinator() reconnects to the *same node id*, and a NOT_COORDINATOR_FOR_GROUP answer only refreshes     */
/* topic metadata: every commit goes back to the dead or demoted broker, and kafkajs' consumer retries it for   */
/* ever. Sluice's writer commits inside its batch handler, so the whole writer group stopped storing after the  */
/* broker that coordinated it failed (issue 13: 179,524 of 360,000 stored), until that broker came back and     */
/* was coordinator again. This subclass asks the cluster who coordinates the group (FindCoordinator) whenever   */
/* the cached coordinator is disconnected or has said it no longer is one.                                      */
/* ------------------------------------------------------------------------------------------------------------ */

interface OffsetManagerInternals {
  cluster: { findGroupCoordinator(query: { groupId: string }): Promise<{ isConnected(): boolean }> };
  coordinator: { isConnected(): boolean };
  groupId: string;
  getCoordinator(): Promise<unknown>;
  commitOffsets(offsets?: unknown): Promise<void>;
}
type OffsetManagerClass = new (...args: never[]) => OffsetManagerInternals;

/** Answers after which the cached coordinator is not to be trusted: it moved, or the broker is gone. */
const COORDINATOR_GONE = new Set(['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE']);
const CONNECTION_GONE = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound', 'KafkaJSRequestTimeoutError']);

export function coordinatorFollowingOffsetManager(OffsetManager: OffsetManagerClass): OffsetManagerClass {
  return class CoordinatorFollowingOffsetManager extends OffsetManager {
    coordinatorStale = false;

    override async getCoordinator(): Promise<unknown> {
      if (this.coordinatorStale || !this.coordinator.isConnected()) {
        this.coordinator = await this.cluster.findGroupCoordinator({ groupId: this.groupId });
        this.coordinatorStale = false;
      }
      return this.coordinator;
    }

    override async commitOffsets(offsets?: unknown): Promise<void> {
      try {
        await super.commitOffsets(offsets);
      } catch (error) {
        const { type, name } = error as KafkaError;
        if ((type && COORDINATOR_GONE.has(type)) || CONNECTION_GONE.has(name)) this.coordinatorStale = true;
        throw error;
      }
    }
  };
}

/* ------------------------------------------------------------------------------------------------------------ */
/* kafkajs' RequestQueue schedules its pending-request check at `throttledUntil - Date.now()` ms. When the      */
/* broker never throttled, throttledUntil is -1 and nothing is pending, so the delay is minus the epoch: Node   */
/* runs it after 1 ms, and since Node 24 it also prints a TimeoutNegativeWarning in every process that talks to */
/* Kafka (kafkajs #1751; fixes proposed in pull requests #1755 and #1768, open). The patched queue asks for     */
/* those 1 ms itself: the same timing, no warning.                                                              */
/* ------------------------------------------------------------------------------------------------------------ */

interface RequestQueueInternals {
  throttledUntil: number;
  pending: unknown[];
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}
type RequestQueueClass = new (...args: never[]) => RequestQueueInternals;

export function nonNegativeDelayRequestQueue(RequestQueue: RequestQueueClass): RequestQueueClass {
  return class NonNegativeDelayRequestQueue extends RequestQueue {
    override scheduleCheckPendingRequests(): void {
      if (!this.throttleCheckTimeoutId && this.pending.length === 0 && this.throttledUntil < Date.now()) {
        this.throttleCheckTimeoutId = setTimeout(() => {
          this.throttleCheckTimeoutId = null;
          this.checkPendingRequests();
        }, 1);
        return;
      }
      super.scheduleCheckPendingRequests();
    }
  };
}

/* ------------------------------------------------------------------------------------------------------------ */

interface Patch {
  /** kafkajs file replaced, relative to the package. */
  file: string;
  /** SHA-256 of that file in the version above. */
  sha256: string;
  /** The module's new exports, given its original exports (loaded only when the patch needs them). */
  replace: (original: () => unknown) => unknown;
}

export const PATCHES: readonly Patch[] = [
  { file: 'src/producer/groupMessagesPerPartition.js', sha256: 'ea72357721fbf67770b5e06b9bf4260faa1e60f3affb556bff2cc7892c1881fb', replace: () => groupMessagesPerPartition },
  { file: 'src/producer/sendMessages.js', sha256: '8a120e6993955e040a13014cccebd79b8d41e7355d6eda1065fa83fea2fbbcdb', replace: () => createSendMessages },
  { file: 'src/consumer/offsetManager/index.js', sha256: 'bd1041968ae322324ebf64d2569308db19d24f70ee5dbb72c964b43bfe85c00e', replace: (original) => coordinatorFollowingOffsetManager(original() as OffsetManagerClass) },
  { file: 'src/network/requestQueue/index.js', sha256: 'b55986089c14f8f7bfc377922e2e65b3e4c1e7c7af2752d3b10a75dfe9e9260c', replace: (original) => nonNegativeDelayRequestQueue(original() as RequestQueueClass) },
];

/** The patches whose kafkajs file is not the one they were written for (empty when all is well). */
export function stalePatches(): string[] {
  const version = (require('kafkajs/package.json') as { version: string }).version;
  if (version !== KAFKAJS_VERSION) return PATCHES.map((p) => `${p.file} (kafkajs ${version}, patches read from ${KAFKAJS_VERSION})`);
  return PATCHES.filter((p) => createHash('sha256').update(readFileSync(kafkajsPath(p.file))).digest('hex') !== p.sha256).map((p) => `${p.file} (content changed)`);
}

/**
 * Installed once per thread: this module may be evaluated again (test runners reset their module graph) while
 * Node's CJS cache, and kafkajs in it, stays.
 */
const INSTALLED = Symbol.for('sluice.kafkajs-patches.installed');

function install(): void {
  const scope = globalThis as { [INSTALLED]?: boolean };
  if (scope[INSTALLED]) return;
  const stale = stalePatches();
  if (stale.length > 0) {
    throw sluiceError(ErrorCodes.KAFKAJS_PATCH_STALE, `kafkajs changed under core/streams/kafkajs-patches.ts: ${stale.join(', ')}; re-check each patch against the new file before updating its hash`);
  }
  // Under ESM, Node lists kafkajs in the cache before running it (`loaded` false): only a run kafkajs is too late.
  if (require.cache[kafkajsPath('index.js')]?.loaded) {
    throw sluiceError(ErrorCodes.KAFKAJS_PATCH_STALE, 'kafkajs was loaded before core/streams/kafkajs-patches.ts: import kafkajs only through core/streams/kafkajs.ts');
  }
  for (const { file, replace } of PATCHES) {
    const path = kafkajsPath(file);
    const exports = replace(() => require(path));
    const module = require.cache[path] ?? new Module(path);
    module.filename = path;
    module.loaded = true;
    module.exports = exports;
    require.cache[path] = module;
  }
  scope[INSTALLED] = true;
}

install();
