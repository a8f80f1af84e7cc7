import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { SEVERITIES, type AlertTransition } from '../core/alerts.js';
import { partitionForKey } from '../core/murmur2.js';
import { decodeAlert, decodeDeadLetter, decodeEvent, decodeReading } from '../core/records.js';
import type { ConsumedRecord, RecordBatch, StreamAssignment, StreamBus, StreamConsumer, StreamName, StreamProducer } from '../core/seams.js';
import { alreadyApplied, encodeDeviceState, restoreDeviceStates, type AppliedOffsets } from './changelog.js';
import type { RuleInput } from './conditions/index.js';
import type { RuleEngine } from './engine.js';
import { createAlertOutbox } from './outbox.js';

/** What the rules stage reads: a device's readings, events, dead letters, and acknowledgements of its alerts. */
export const RULES_INPUT_STREAMS: readonly StreamName[] = ['telemetry', 'events', 'deadletter', 'alerts'];

export interface RulesRunnerOptions {
  groupId: string;
  /** Partitions of the streams (KAFKA_PARTITIONS): a device's partition is murmur2(id) mod this, as producers place it. */
  partitions: number;
  stateFlushMs: number;
  tickMs: number;
}

export interface RulesRunnerDeps {
  bus: StreamBus;
  producer: StreamProducer;
  engine: RuleEngine;
  /** Transitions now in the alerts stream: notifications go out from here. */
  onAlerts: (transitions: readonly AlertTransition[]) => void;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

export interface RulesRunner {
  start(): Promise<void>;
  /** Transitions from outside the stream (a hot reload's clears): written like the stage's own. */
  publish(transitions: readonly AlertTransition[]): Promise<void>;
  assignment(): StreamAssignment | undefined;
  close(): Promise<void>;
}

/**
 * The rules stage on the stream: a consumer group over the input streams, co-partitioned so one member holds all
 * of a device's records, with the device's rule state restored from the changelog when the member takes over its
 * partition. A batch is acknowledged (its offsets committed) only after its alerts are in the alerts stream and
 * its state is in the changelog.
 */
export function createRulesRunner(options: RulesRunnerOptions, deps: RulesRunnerDeps): RulesRunner {
  const { engine, metrics } = deps;
  const log = deps.logger.child({ module: 'rules' });
  const now = deps.now ?? Date.now;
  const applied: AppliedOffsets = new Map();
  const outbox = createAlertOutbox({ producer: deps.producer, logger: deps.logger, metrics, onSent: deps.onAlerts });
  const restores = new Map<number, Promise<void>>();
  const dirty = new Set<string>();
  let flushWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let consumer: StreamConsumer | undefined;
  let owned = new Set<number>();
  let closing = false;
  let lateSeen = 0;
  // Stream time for silence timers: the newest record's gateway time, moved on by the wall clock since it was read.
  // While a backlog is read after a restart it trails the wall clock, so a device is not called silent while its
  // readings are still on their way through the queue.
  let streamClock: { recordTs: number; readAt: number } | undefined;
  const clock = (): number => (streamClock ? Math.min(now(), streamClock.recordTs + (now() - streamClock.readAt)) : now());

  function restore(partition: number): Promise<void> {
    let restoring = restores.get(partition);
    if (!restoring) {
      const started = performance.now();
      const records: ConsumedRecord[] = [];
      restoring = deps.bus
        .readPartitions('rules-state', [partition], (batch) => void records.push(...batch))
        .then(async () => {
          const transitions = restoreDeviceStates(engine, applied, records);
          metrics.rulesStateRestoreSeconds.observe((performance.now() - started) / 1000);
          log.info({ partition, records: records.length, ms: Math.round(performance.now() - started) }, 'rule state restored');
          await outbox.send(transitions);
        });
      // A failed restore is tried again by the next batch of that partition.
      restoring.catch((error: unknown) => {
        log.warn({ partition, err: error }, 'rule state restore failed; retrying with the next batch');
        restores.delete(partition);
      });
      restores.set(partition, restoring);
    }
    return restoring;
  }

  function onAssignment(assignment: StreamAssignment): void {
    const next = new Set(assignment.streams.find((s) => s.stream === 'telemetry')?.assigned ?? []);
    const lost = [...owned].filter((p) => !next.has(p));
    if (lost.length > 0) {
      // Their new owner restores them from the changelog; what this member holds of them is stale from now on.
      for (const deviceId of engine.deviceIds()) {
        if (lost.includes(partitionForKey(deviceId, options.partitions))) {
          engine.forget(deviceId);
          applied.delete(deviceId);
          dirty.delete(deviceId);
        }
      }
      for (const p of lost) restores.delete(p);
    }
    owned = next;
    for (const p of next) void restore(p).catch(() => undefined);
    log.info({ partitions: [...next].sort((a, b) => a - b), members: assignment.members }, 'rules partitions assigned');
  }

  function toInput(stream: StreamName, record: ConsumedRecord): RuleInput | AlertTransition | undefined {
    switch (stream) {
      case 'telemetry': {
        const reading = decodeReading(record);
        return reading && { kind: 'reading', reading };
      }
      case 'events': {
        const event = decodeEvent(record);
        return event && { kind: 'event', event };
      }
      case 'deadletter': {
        const deadLetter = decodeDeadLetter(record);
        return deadLetter && { kind: 'deadletter', deadLetter };
      }
      case 'alerts': {
        const alert = decodeAlert(record);
        return alert?.transition === 'acknowledged' ? alert : undefined;
      }
      default:
        return undefined;
    }
  }

  async function handle(batch: RecordBatch): Promise<void> {
    await restore(batch.partition);
    const out: AlertTransition[] = [];
    let evaluated = 0;
    for (const record of batch.records) {
      const deviceId = record.key;
      if (alreadyApplied(applied, deviceId, batch.stream, record.offset)) continue;
      const input = toInput(batch.stream, record);
      if (input && 'kind' in input) {
        out.push(...engine.apply(input));
        evaluated++;
      } else if (input) {
        engine.noteAcknowledged(input);
      }
      const offsets = applied.get(deviceId);
      if (offsets) offsets[batch.stream] = record.offset;
      else applied.set(deviceId, { [batch.stream]: record.offset });
      dirty.add(deviceId);
    }
    const last = batch.records.at(-1);
    if (last && batch.stream === 'telemetry' && (!streamClock || last.timestamp > streamClock.recordTs)) streamClock = { recordTs: last.timestamp, readAt: now() };
    metrics.ruleEvaluations.inc(evaluated);
    const late = engine.stats().lateReadings;
    if (late > lateSeen) metrics.ruleLateReadings.inc(late - lateSeen);
    lateSeen = late;
    await outbox.send(out);
    await nextFlush();
  }

  function nextFlush(): Promise<void> {
    return new Promise((resolve, reject) => flushWaiters.push({ resolve, reject }));
  }

  async function flush(): Promise<void> {
    const waiters = flushWaiters;
    flushWaiters = [];
    for (const change of engine.takeChanges()) dirty.add(change.deviceId);
    const devices = [...dirty];
    dirty.clear();
    try {
      if (devices.length > 0) await deps.producer.send('rules-state', devices.map((deviceId) => encodeDeviceState(engine, applied, deviceId)));
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      for (const deviceId of devices) dirty.add(deviceId);
      // The batches waiting on this flush fail and come again; their records are skipped as applied, and their
      // devices are written with the next flush.
      for (const waiter of waiters) waiter.reject(error as Error);
      log.warn({ err: error, devices: devices.length }, 'rule state not written; retrying');
    }
  }

  function scheduleFlush(): void {
    flushTimer = setTimeout(() => {
      void flush().finally(() => {
        if (!closing) scheduleFlush();
      });
    }, options.stateFlushMs);
  }

  function countOpenAlerts(): void {
    const open = new Map<string, number>(SEVERITIES.map((severity) => [severity, 0]));
    for (const rule of engine.state()) open.set(rule.severity, open.get(rule.severity)! + rule.open.length);
    for (const [severity, count] of open) metrics.alertsOpen.set({ severity }, count);
  }

  function scheduleTick(): void {
    tickTimer = setTimeout(() => {
      // Timers start once this member has partitions and their state: before that, "silent" means "not restored yet".
      const ready = owned.size > 0 && [...owned].every((p) => restores.has(p));
      const transitions = ready ? engine.tick(clock()) : [];
      countOpenAlerts();
      void outbox
        .send(transitions)
        .catch(() => undefined)
        .finally(() => {
          if (!closing) scheduleTick();
        });
    }, options.tickMs);
  }

  return {
    async start() {
      consumer = deps.bus.createConsumer({
        groupId: options.groupId,
        streams: [...RULES_INPUT_STREAMS],
        from: 'latest',
        concurrency: options.partitions * RULES_INPUT_STREAMS.length,
        copartitioned: true,
        onAssignment,
      });
      scheduleFlush();
      scheduleTick();
      await consumer.run(handle);
    },
    publish: (transitions) => outbox.send(transitions),
    assignment: () => consumer?.assignment(),
    async close() {
      closing = true;
      clearTimeout(tickTimer);
      clearTimeout(flushTimer);
      // Batches in hand wait for a flush: give them one, so the consumer's close can commit what they applied.
      const closingConsumer = consumer?.close();
      await flush();
      await closingConsumer;
      await flush();
      outbox.close();
    },
  };
}
