import type { ConsumedRecord, OutgoingRecord, StreamName } from '../core/seams.js';
import type { AlertTransition } from '../core/alerts.js';
import type { RuleEngine } from './engine.js';

/**
 * The rules stage's changelog: one record per device on `{prefix}.rules-state` (compacted, keyed by device id, so
 * partition N holds the devices of partition N), the way Kafka Streams backs a state store. It carries the device's
 * rule states and, per input stream, the offset of the newest record those states include: a batch delivered
 * again after a crash (state written, offsets not yet committed) is recognised and skipped, so a restart neither
 * loses an open alert nor raises it twice.
 */
export interface DeviceStateRecord {
  v: 1;
  rules: Record<string, unknown>;
  /** Per stream, the offset of the newest record already applied (decimal string, as Kafka offsets are kept). */
  applied: Partial<Record<StreamName, string>>;
}

/** Applied offsets per device, kept beside the engine's rule states. */
export type AppliedOffsets = Map<string, Partial<Record<StreamName, string>>>;

export function encodeDeviceState(engine: RuleEngine, applied: AppliedOffsets, deviceId: string): OutgoingRecord {
  const record: DeviceStateRecord = {
    v: 1,
    rules: Object.fromEntries(engine.snapshot(deviceId).map(({ ruleId, state }) => [ruleId, state])),
    applied: applied.get(deviceId) ?? {},
  };
  return { key: deviceId, value: JSON.stringify(record) };
}

/** Whether a record of `stream` at `offset` is already in the device's state. */
export function alreadyApplied(applied: AppliedOffsets, deviceId: string, stream: StreamName, offset: string): boolean {
  const newest = applied.get(deviceId)?.[stream];
  return newest !== undefined && BigInt(offset) <= BigInt(newest);
}

/**
 * Puts the changelog's records back into the engine: each device gets the state of its newest record.
 * A record that is not a state (a tombstone, or garbage) leaves the device without state. Returns the transitions
 * restoring produced: clears of open alerts whose rule was removed or edited while no member ran them.
 */
export function restoreDeviceStates(engine: RuleEngine, applied: AppliedOffsets, records: readonly ConsumedRecord[]): AlertTransition[] {
  // Newest per device first: an older record's state is superseded, and restoring it could emit a clear the
  // previous owner already wrote.
  const newest = new Map<string, ConsumedRecord>();
  for (const record of records) newest.set(record.key, record);
  const transitions: AlertTransition[] = [];
  for (const record of newest.values()) {
    engine.forget(record.key);
    applied.delete(record.key);
    const parsed = parseDeviceState(record.value);
    if (!parsed) continue;
    applied.set(record.key, parsed.applied);
    for (const [ruleId, state] of Object.entries(parsed.rules)) transitions.push(...engine.restore(record.key, ruleId, state).transitions);
  }
  return transitions;
}

function parseDeviceState(value: Buffer): DeviceStateRecord | undefined {
  if (value.length === 0) return undefined;
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Partial<DeviceStateRecord>;
    if (parsed.v !== 1 || typeof parsed.rules !== 'object' || parsed.rules === null) return undefined;
    const applied = typeof parsed.applied === 'object' && parsed.applied !== null ? parsed.applied : {};
    return { v: 1, rules: parsed.rules, applied };
  } catch {
    return undefined;
  }
}
