/**
 * The rules engine: the pure condition steps of rules/conditions/ applied per (device, rule), with the state
 * held here. No Kafka and no timers: the caller feeds records (`apply`), the passing of time (`tick`), and keeps
 * the changelog (`takeChanges`/`restore`). One engine owns the devices of the partitions it was given.
 */
import type { AlertTransition, OpenAlertSummary } from '../core/alerts.js';
import { isIdle, stepEvaluation, type RuleInput, type StepContext } from './conditions/index.js';
import { acknowledge, advance, fingerprintOf, forcedClear, initialRuleState, parseRuleState, type RuleState } from './rule-state.js';
import type { Rule, Severity } from './schema.js';
import { selects } from './selector.js';

export const DEFAULT_ALLOWED_LATENESS_MS = 60_000;

export interface RuleEngineOptions {
  rules: readonly Rule[];
  /** How far behind a device's newest reading (event time) a reading may arrive and still count; default 60 s. */
  allowedLatenessMs?: number;
  /** Processing time, for acknowledgements and the clears of hot reload; default Date.now. */
  now?: () => number;
}

/** An open alert of a rule, as `state()` lists it (and `GET /api/rules` shows it). */
export type OpenAlertStatus = OpenAlertSummary;

export interface RuleStatus {
  ruleId: string;
  description: string;
  severity: Severity;
  enabled: boolean;
  open: OpenAlertStatus[];
}

/** A (device, rule) state that changed; null: it is gone (write a tombstone). */
export interface StateChange {
  deviceId: string;
  ruleId: string;
  state: RuleState | null;
}

export interface RuleEngine {
  /** Applies a reading, device event, dead letter (or tick) to every rule that watches the device. */
  apply(input: RuleInput): AlertTransition[];
  /** Processing time passed: silence and offline timers, tumbling windows past their lateness, counts ageing out. */
  tick(now: number): AlertTransition[];
  /** Hot reload: state is kept for rules whose id and condition are unchanged; open alerts of the rest are cleared. */
  setRules(rules: readonly Rule[]): AlertTransition[];
  acknowledge(alertId: string, by: string): AlertTransition | undefined;
  /**
   * An acknowledgement someone else wrote to the alerts stream (the dashboard): the open alert takes its who and
   * when, and its next transition comes after the acknowledgement's sequence number. Nothing new is emitted.
   */
  noteAcknowledged(ack: AlertTransition): boolean;
  /** Drops a device's states without transitions: its partition moved to another member, which restores them. */
  forget(deviceId: string): void;
  /** Devices with state, for the changelog and for dropping a partition's devices. */
  deviceIds(): string[];
  snapshot(deviceId: string): Array<{ ruleId: string; state: RuleState }>;
  /** Puts back a state read from the changelog; one that no longer fits its rule is dropped, its open alert cleared. */
  restore(deviceId: string, ruleId: string, state: unknown): { restored: boolean; transitions: AlertTransition[] };
  /** The (device, rule) states changed since the last call, for the changelog. */
  takeChanges(): StateChange[];
  state(): RuleStatus[];
  stats(): { lateReadings: number; devices: number; states: number };
}

interface LoadedRule {
  rule: Rule;
  /** Computed once per load: states are checked against it on every hot reload and restore. */
  fingerprint: string;
}

function load(rules: readonly Rule[]): Map<string, LoadedRule> {
  return new Map(rules.map((rule) => [rule.id, { rule, fingerprint: fingerprintOf(rule.condition) }]));
}

export function createRuleEngine(options: RuleEngineOptions): RuleEngine {
  const context: StepContext = { allowedLatenessMs: options.allowedLatenessMs ?? DEFAULT_ALLOWED_LATENESS_MS };
  const now = options.now ?? Date.now;
  let rules = load(options.rules);
  const devices = new Map<string, Map<string, RuleState>>();
  /** Tags of each device's newest tagged reading: events and dead letters carry none, but tag selectors apply to them. */
  const tagsOf = new Map<string, Readonly<Record<string, string>>>();
  const changed = new Map<string, Set<string>>();
  let lateReadings = 0;
  // Kept as states come and go, so stats() costs nothing on the stream's path (the runner reads it every batch).
  let stateCount = 0;

  function put(deviceId: string, ruleId: string, state: RuleState | null): void {
    const states = devices.get(deviceId) ?? new Map<string, RuleState>();
    const before = states.size;
    if (state === null) states.delete(ruleId);
    else states.set(ruleId, state);
    stateCount += states.size - before;
    if (states.size > 0) devices.set(deviceId, states);
    else devices.delete(deviceId);
    changed.set(deviceId, (changed.get(deviceId) ?? new Set()).add(ruleId));
  }

  /** One rule, one device, one input: steps the condition and keeps the state. */
  function run(rule: Rule, deviceId: string, current: RuleState, input: RuleInput, out: AlertTransition[]): boolean {
    const step = stepEvaluation(rule.condition, current, input, context);
    const { state, alert } = advance(rule, deviceId, current, step);
    if (alert !== undefined) out.push(alert);
    if (input.kind === 'tick' && state.alert === null && isIdle(state.condition)) put(deviceId, rule.id, null);
    else if (state.condition !== current.condition || state.watermark !== current.watermark) put(deviceId, rule.id, state);
    return step.late === true;
  }

  function apply(input: RuleInput): AlertTransition[] {
    if (input.kind === 'tick') return tick(input.now);
    const deviceId = input.kind === 'reading' ? input.reading.deviceId : input.kind === 'event' ? input.event.deviceId : input.deadLetter.deviceId;
    if (input.kind === 'reading' && input.reading.tags !== undefined) tagsOf.set(deviceId, input.reading.tags);
    const tags = tagsOf.get(deviceId);
    const states = devices.get(deviceId);
    const out: AlertTransition[] = [];
    let late = false;
    for (const { rule, fingerprint } of rules.values()) {
      if (!rule.enabled) continue;
      // A state means the rule picked this device already; it keeps watching until the rules change.
      const current = states?.get(rule.id) ?? (selects(rule.devices, deviceId, tags) ? initialRuleState(rule, fingerprint) : undefined);
      if (current !== undefined && run(rule, deviceId, current, input, out)) late = true;
    }
    if (late) lateReadings++;
    return out;
  }

  function tick(at: number): AlertTransition[] {
    const out: AlertTransition[] = [];
    for (const [deviceId, states] of [...devices]) {
      for (const [ruleId, state] of [...states]) {
        const rule = rules.get(ruleId)?.rule;
        if (rule?.enabled === true) run(rule, deviceId, state, { kind: 'tick', now: at }, out);
      }
    }
    return out;
  }

  /** Why the engine must stop evaluating this state under `next`, or undefined when it carries on. */
  function dropReason(loaded: LoadedRule | undefined, deviceId: string, state: RuleState) {
    if (loaded === undefined) return 'rule-removed' as const;
    const { rule: next, fingerprint } = loaded;
    if (!next.enabled) return 'rule-disabled' as const;
    if (fingerprint !== state.fingerprint) return 'rule-changed' as const;
    // Tags unknown (none seen since a restart): trust the selector's own tags rather than drop a live alert.
    if (!selects(next.devices, deviceId, tagsOf.get(deviceId) ?? next.devices.tags)) return 'device-unselected' as const;
    return undefined;
  }

  function setRules(next: readonly Rule[]): AlertTransition[] {
    const byId = load(next);
    const out: AlertTransition[] = [];
    for (const [deviceId, states] of [...devices]) {
      for (const [ruleId, state] of [...states]) {
        const reason = dropReason(byId.get(ruleId), deviceId, state);
        if (reason === undefined) continue;
        if (state.alert !== null) out.push(forcedClear(ruleId, deviceId, state.alert, reason, now()));
        put(deviceId, ruleId, null);
      }
    }
    rules = byId;
    return out;
  }

  function restore(deviceId: string, ruleId: string, value: unknown): { restored: boolean; transitions: AlertTransition[] } {
    const state = parseRuleState(value);
    if (state === undefined) {
      put(deviceId, ruleId, null);
      return { restored: false, transitions: [] };
    }
    const reason = dropReason(rules.get(ruleId), deviceId, state);
    if (reason === undefined) {
      put(deviceId, ruleId, state);
      changed.get(deviceId)?.delete(ruleId);
      return { restored: true, transitions: [] };
    }
    put(deviceId, ruleId, null);
    return { restored: false, transitions: state.alert !== null ? [forcedClear(ruleId, deviceId, state.alert, reason, now())] : [] };
  }

  function acknowledgeAlert(alertId: string, by: string): AlertTransition | undefined {
    for (const [deviceId, states] of devices) {
      for (const [ruleId, state] of states) {
        if (state.alert?.alertId !== alertId) continue;
        const { alert, record } = acknowledge(ruleId, deviceId, state.alert, by, now());
        put(deviceId, ruleId, { ...state, alert });
        return record;
      }
    }
    return undefined;
  }

  function noteAcknowledged(ack: AlertTransition): boolean {
    const state = devices.get(ack.deviceId)?.get(ack.ruleId);
    if (state?.alert?.alertId !== ack.alertId || state.alert.ackBy !== undefined) return false;
    const alert = { ...state.alert, seq: Math.max(state.alert.seq, ack.seq), ...(ack.ackBy !== undefined ? { ackBy: ack.ackBy } : {}), ackAt: ack.ackAt ?? ack.ts };
    put(ack.deviceId, ack.ruleId, { ...state, alert });
    return true;
  }

  function forget(deviceId: string): void {
    stateCount -= devices.get(deviceId)?.size ?? 0;
    devices.delete(deviceId);
    tagsOf.delete(deviceId);
    changed.delete(deviceId);
  }

  function takeChanges(): StateChange[] {
    const changes: StateChange[] = [];
    for (const [deviceId, ruleIds] of changed) {
      for (const ruleId of ruleIds) changes.push({ deviceId, ruleId, state: devices.get(deviceId)?.get(ruleId) ?? null });
    }
    changed.clear();
    return changes;
  }

  function state(): RuleStatus[] {
    return [...rules.values()].map(({ rule }) => {
      const open: OpenAlertStatus[] = [];
      for (const [deviceId, states] of devices) {
        const alert = states.get(rule.id)?.alert;
        if (!alert) continue;
        const { alertId, raisedAt: since, value, metric, ackBy } = alert;
        open.push({ deviceId, alertId, since, value, ...(metric !== undefined ? { metric } : {}), ...(ackBy !== undefined ? { ackBy } : {}) });
      }
      return { ruleId: rule.id, description: rule.description, severity: rule.severity, enabled: rule.enabled, open };
    });
  }

  return {
    apply,
    tick,
    setRules,
    acknowledge: acknowledgeAlert,
    noteAcknowledged,
    forget,
    deviceIds: () => [...devices.keys()],
    snapshot: (deviceId) => [...(devices.get(deviceId) ?? [])].map(([ruleId, ruleState]) => ({ ruleId, state: ruleState })),
    restore,
    takeChanges,
    state,
    stats: () => ({ lateReadings, devices: devices.size, states: stateCount }),
  };
}
