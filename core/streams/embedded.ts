import { EventEmitter } from 'node:events';
import { partitionForKey } from '../murmur2.js';
import { sluiceError, ErrorCodes } from '../errors.js';
import type {
  BatchHandler,
  ConsumedRecord,
  ConsumerLagReport,
  ConsumerLagSource,
  ConsumerOptions,
  OutgoingRecord,
  StreamBus,
  StreamConsumer,
  StreamName,
  StreamAssignment,
  StreamProducer,
  TableName,
  TableRecord,
} from '../seams.js';
import { STREAM_NAMES } from '../seams.js';

export interface EmbeddedBusOptions {
  partitions: number;
  /**
   * Records kept per partition. Records every group has committed are dropped first; past this
   * bound a producer waits until consumers catch up, so memory stays bounded without losing data.
   */
  maxRecordsPerPartition?: number;
  maxBatchRecords?: number;
  retryDelayMs?: number;
}

interface Partition {
  /** Offset of records[0]. */
  base: number;
  records: ConsumedRecord[];
}

interface Group {
  committed: Map<string, number>; // `${stream}:${partition}` → next offset to read
  members: Set<EmbeddedConsumerState>;
  /** Streams a consumer of this group was created for: only these does the group hold back from trimming. */
  streams: Set<StreamName>;
}

interface EmbeddedConsumerState {
  streams: readonly StreamName[];
  assigned: Set<string>;
  wake: () => void;
  /** Tells the consumer its assignment after a rebalance. */
  report: (assignment: StreamAssignment) => void;
}

/**
 * An in-process stand-in for Kafka with the same semantics the pipeline relies on: keyed records go to
 * the murmur2 partition, order is kept per partition, groups share partitions and commit offsets after
 * a batch handler resolves, and a failed batch is delivered again.
 */
export function createEmbeddedBus(options: EmbeddedBusOptions): StreamBus {
  const partitionCount = options.partitions;
  const maxRecords = options.maxRecordsPerPartition ?? 100_000;
  const maxBatch = options.maxBatchRecords ?? 1000;
  const retryDelayMs = options.retryDelayMs ?? 200;
  const appended = new EventEmitter();
  appended.setMaxListeners(0);
  const trimmed = new EventEmitter();
  trimmed.setMaxListeners(0);
  const streams = new Map<StreamName, Partition[]>();
  const groups = new Map<string, Group>();
  const consumers = new Set<StreamConsumer>();
  let closed = false;

  for (const name of STREAM_NAMES) {
    streams.set(
      name,
      Array.from({ length: partitionCount }, () => ({ base: 0, records: [] })),
    );
  }

  const slot = (stream: StreamName, partition: number): string => `${stream}:${partition}`;
  const partitionOf = (stream: StreamName, index: number): Partition => streams.get(stream)![index]!;

  function endOffset(stream: StreamName, index: number): number {
    const p = partitionOf(stream, index);
    return p.base + p.records.length;
  }

  /** Drop what every group has committed; group-less readers only ever see what is still kept. */
  function trim(stream: StreamName, index: number): void {
    const p = partitionOf(stream, index);
    let lowestCommitted = endOffset(stream, index);
    for (const group of groups.values()) {
      const committed = group.committed.get(slot(stream, index));
      if (committed !== undefined) lowestCommitted = Math.min(lowestCommitted, committed);
      // Only a group that reads this stream holds its records back: one that never reads it (the writer's group and
      // the events stream) would hold them forever, and producers would wait for good once the partition is full.
      else if (group.streams.has(stream)) lowestCommitted = p.base;
    }
    const removable = Math.min(lowestCommitted - p.base, p.records.length - Math.floor(maxRecords / 2));
    if (removable > 0) {
      p.records.splice(0, removable);
      p.base += removable;
      trimmed.emit('trim');
    }
  }

  async function waitForRoom(stream: StreamName, index: number): Promise<void> {
    while (partitionOf(stream, index).records.length >= maxRecords) {
      trim(stream, index);
      if (partitionOf(stream, index).records.length < maxRecords) return;
      if (closed) throw sluiceError(ErrorCodes.CLOSED, 'embedded queue closed');
      await new Promise<void>((resolve) => trimmed.once('trim', resolve));
    }
  }

  async function send(stream: StreamName, records: OutgoingRecord[]): Promise<void> {
    if (closed) throw sluiceError(ErrorCodes.CLOSED, 'embedded queue closed', { retriable: false });
    const touched = new Set<number>();
    for (const record of records) {
      const index = partitionForKey(record.key, partitionCount);
      await waitForRoom(stream, index);
      const p = partitionOf(stream, index);
      p.records.push({
        key: record.key,
        value: Buffer.from(record.value, 'utf8'),
        partition: index,
        offset: String(p.base + p.records.length),
        timestamp: record.timestamp ?? Date.now(),
      });
      touched.add(index);
    }
    if (touched.size > 0) appended.emit('append');
  }

  function createConsumer(consumerOptions: ConsumerOptions): StreamConsumer {
    let assignment: StreamAssignment | undefined;
    const state: EmbeddedConsumerState = {
      streams: consumerOptions.streams,
      assigned: new Set(),
      wake: () => undefined,
      report: (reported) => {
        assignment = reported;
        consumerOptions.onAssignment?.(reported);
      },
    };
    const ownPositions = new Map<string, number>();
    let running = false;
    let stopped = false;
    let loop: Promise<void> | undefined;
    const group = consumerOptions.groupId ? groupFor(consumerOptions.groupId) : undefined;
    for (const stream of consumerOptions.streams) group?.streams.add(stream);

    function startPosition(stream: StreamName, index: number): number {
      const p = partitionOf(stream, index);
      const from = consumerOptions.from;
      if (from === 'earliest') return p.base;
      if (from === 'latest') return endOffset(stream, index);
      const found = p.records.findIndex((record) => record.timestamp >= from.timestamp);
      return found === -1 ? endOffset(stream, index) : p.base + found;
    }

    function position(key: string, stream: StreamName, index: number): number {
      const positions = group ? group.committed : ownPositions;
      let at = positions.get(key);
      if (at === undefined) {
        at = startPosition(stream, index);
        positions.set(key, at);
      }
      return Math.max(at, partitionOf(stream, index).base);
    }

    const sleepers = new Set<() => void>();
    state.wake = () => {
      for (const wake of [...sleepers]) wake();
    };

    /** Waits `ms`, or less when woken (close, rebalance) or, with `onAppend`, when records arrive. */
    function idle(ms: number, onAppend: boolean): Promise<void> {
      return new Promise((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          appended.off('append', finish);
          sleepers.delete(finish);
          resolve();
        };
        const timer = setTimeout(finish, ms);
        if (onAppend) appended.once('append', finish);
        sleepers.add(finish);
      });
    }

    /** One loop per partition, as Kafka consumers fetch partitions independently: a slow one stalls only itself. */
    async function partitionLoop(handler: BatchHandler, stream: StreamName, index: number): Promise<void> {
      const key = slot(stream, index);
      while (!stopped) {
        if (group && !state.assigned.has(key)) {
          await idle(1000, false);
          continue;
        }
        const from = position(key, stream, index);
        const end = endOffset(stream, index);
        if (from >= end) {
          await idle(1000, true);
          continue;
        }
        const p = partitionOf(stream, index);
        const records = p.records.slice(from - p.base, Math.min(end, from + maxBatch) - p.base);
        try {
          await handler({ stream, partition: index, records, heartbeat: async () => undefined });
          (group ? group.committed : ownPositions).set(key, from + records.length);
          trim(stream, index);
        } catch {
          // Not committed: the same records come again after a pause, as with a Kafka consumer.
          await idle(retryDelayMs, false);
        }
      }
    }

    function runLoops(handler: BatchHandler): Promise<void> {
      const loops: Promise<void>[] = [];
      for (const stream of consumerOptions.streams) {
        for (let index = 0; index < partitionCount; index++) loops.push(partitionLoop(handler, stream, index));
      }
      return Promise.all(loops).then(() => undefined);
    }

    const consumer: StreamConsumer = {
      async run(handler) {
        if (running) throw new Error('consumer already running');
        running = true;
        if (group) {
          group.members.add(state);
          rebalance(group, consumerOptions.streams);
          reportAssignments(consumerOptions.groupId!, group);
        } else {
          for (const stream of consumerOptions.streams) {
            for (let index = 0; index < partitionCount; index++) position(slot(stream, index), stream, index);
          }
        }
        loop = runLoops(handler);
      },
      async close() {
        stopped = true;
        state.wake();
        await loop;
        if (group) {
          group.members.delete(state);
          rebalance(group, consumerOptions.streams);
          reportAssignments(consumerOptions.groupId!, group);
        }
        consumers.delete(consumer);
      },
      assignment: () => assignment,
    };
    consumers.add(consumer);
    return consumer;
  }

  function groupFor(groupId: string): Group {
    let group = groups.get(groupId);
    if (!group) {
      group = { committed: new Map(), members: new Set(), streams: new Set() };
      groups.set(groupId, group);
    }
    return group;
  }

  /**
   * Partition N of every stream to member N mod members, redone whenever a member joins or leaves: round-robin over
   * the partitions, as Kafka's RoundRobinAssignor deals them for one stream, and co-partitioned across streams, as
   * the rules stage asks of Kafka (`copartitioned`).
   */
  function rebalance(group: Group, streamNames: StreamName[]): void {
    const members = [...group.members];
    for (const member of members) member.assigned.clear();
    if (members.length === 0) return;
    for (const stream of streamNames) {
      for (let index = 0; index < partitionCount; index++) members[index % members.length]!.assigned.add(slot(stream, index));
    }
    for (const member of members) member.wake();
  }

  /** What each member of a group now reads, as a Kafka consumer learns it at a join. */
  function reportAssignments(groupId: string, group: Group): void {
    const members = [...group.members];
    for (const member of members) {
      const foreignTopics = new Set(members.flatMap((m) => m.streams).filter((stream) => !member.streams.includes(stream)));
      member.report({
        groupId,
        streams: member.streams.map((stream) => {
          const held = (m: EmbeddedConsumerState, index: number) => m.streams.includes(stream) && m.assigned.has(slot(stream, index));
          const all = Array.from({ length: partitionCount }, (_, index) => index);
          return {
            stream,
            topic: stream,
            partitions: partitionCount,
            assigned: all.filter((index) => held(member, index)),
            unread: all.filter((index) => !members.some((m) => held(m, index))),
          };
        }),
        members: members.length,
        foreignTopics: [...foreignTopics].sort(),
      });
    }
  }

  // Tables keep only each key's newest record, as compaction would; a tombstone removes the key at once.
  const tables = new Map<TableName, { rows: Map<string, TableRecord>; followers: Set<(records: TableRecord[]) => void> }>();
  function openTable(table: TableName) {
    let state = tables.get(table);
    if (!state) tables.set(table, (state = { rows: new Map(), followers: new Set() }));
    const { rows, followers } = state;
    let follower: ((records: TableRecord[]) => void) | undefined;
    return {
      async follow(onRecords: (records: TableRecord[]) => void) {
        if (rows.size > 0) onRecords([...rows.values()]);
        follower = onRecords;
        followers.add(onRecords);
      },
      async write(records: readonly { key: string; value: string | null }[]) {
        const written = records.map((record) => ({ key: record.key, value: record.value === null ? null : Buffer.from(record.value) }));
        for (const record of written) {
          if (record.value === null) rows.delete(record.key);
          else rows.set(record.key, record);
        }
        // Followers hear of a write after it resolved, as they would from Kafka.
        for (const notify of followers) setImmediate(() => notify(written));
      },
      health: () => ({ following: follower !== undefined && !closed }),
      async close() {
        if (follower) followers.delete(follower);
        follower = undefined;
      },
    };
  }

  return {
    kind: 'embedded',
    openTable,
    async ensureStreams() {
      // Streams exist from construction; nothing to create.
    },
    async createProducer(): Promise<StreamProducer> {
      return {
        send,
        async sendBatch(batches) {
          for (const batch of batches) await send(batch.stream, batch.records);
        },
        close: async () => undefined,
      };
    },
    createConsumer,
    async readPartitions(stream, partitions, onRecords) {
      for (const index of partitions) {
        const records = partitionOf(stream, index).records.slice();
        if (records.length > 0) await onRecords(records);
      }
    },
    async ping() {
      return !closed;
    },
    async close() {
      for (const consumer of [...consumers]) await consumer.close();
      closed = true;
      trimmed.emit('trim');
    },
  };
}

/**
 * Consumer lag of the embedded queue: not reported, and the pipeline view says so. Its groups live in this
 * process, and the queue itself bounds how far they may fall behind (past `maxRecordsPerPartition` producers wait).
 */
export function createEmbeddedLagSource(): ConsumerLagSource {
  const report: ConsumerLagReport = { available: false, note: 'embedded mode: the in-process queue has no consumer lag to report', groups: [] };
  return {
    kind: 'embedded',
    read: async () => ({ ...report, groups: [] }),
    close: async () => undefined,
  };
}
