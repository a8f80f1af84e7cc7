/**
 * Which alert transitions become notifications, and when an open alert is told again: the policy of a rule's
 * `notify.minInterval` and `notify.repeatEvery` (rules/schema.ts). Pure functions over a plain-JSON state, on
 * processing time (`now`), so the state can go to the changelog beside the engine's and tests need no clock.
 *
 * Per (rule, device) — one alert at a time, as the engine keeps it:
 * - `raised` goes out, unless a notification for the same rule and device went out less than `minInterval` ago
 *   (a flapping rule): then it is held, and `due` sends it once `minInterval` has passed if the alert is still open.
 *   A held alert that clears before that is never told, raise or clear: the receiver saw nothing to clear.
 * - `updated` goes out, unless within `minInterval` of the previous notification: then it is held, and `due`
 *   sends the alert's newest transition once `minInterval` has passed (the news is late, never lost).
 * - `cleared` of an alert the receiver was told about always goes out, at once.
 * - `acknowledged` always goes out (a person did it), and stops the repeats.
 * - `due(now)` also repeats each open, told, unacknowledged alert whose last notification is `repeatEvery` old
 *   (at least `minInterval`): an update that went out restarts that clock.
 * A transition already seen (the same alert at the same or a lower seq: a replay) sends nothing.
 */
import type { AlertTransition } from '../../core/alerts.js';

export interface NotifyPolicy {
  /** Milliseconds: tell an open alert again this often. */
  repeatEvery?: number | undefined;
  /** Milliseconds: notifications of one rule and device closer than this are held back. */
  minInterval?: number | undefined;
}

/** What to send: a transition (`repeat` 0) or the n-th reminder of an open alert's newest transition. */
export interface Notification {
  alert: AlertTransition;
  repeat: number;
}

export interface ThrottleEntry {
  /** The newest transition of the rule's current (or last) alert on the device. */
  alert: AlertTransition;
  /** When the last notification for this rule and device went out; null: none yet. */
  notifiedAt: number | null;
  /** Whether the receiver has been told about this alert (a transition of it went out). */
  told: boolean;
  /** A transition of this alert is held back by minInterval, for `due` to send. */
  held: boolean;
  /** Reminders sent for this alert. */
  repeats: number;
}

/** Entries by rule id, then device id. Open alerts, and cleared ones for their rule's minInterval after the clear. */
export interface ThrottleState {
  v: 1;
  entries: Record<string, Record<string, ThrottleEntry>>;
}

export type Decision = 'sent' | 'held' | 'duplicate' | 'untold';

export interface ThrottleStep {
  state: ThrottleState;
  send: Notification[];
}

export function initialThrottleState(): ThrottleState {
  return { v: 1, entries: {} };
}

/** The policy of a rule's `notify` block (durations already in milliseconds). */
export function policyOf(rule: { notify?: { repeatEvery?: number | undefined; minInterval?: number | undefined } | undefined }): NotifyPolicy {
  return { repeatEvery: rule.notify?.repeatEvery, minInterval: rule.notify?.minInterval };
}

/** One transition from the engine: whether it goes out now, and the state after it. */
export function onTransition(state: ThrottleState, alert: AlertTransition, policy: NotifyPolicy, now: number): ThrottleStep & { decision: Decision } {
  const previous = state.entries[alert.ruleId]?.[alert.deviceId];
  const sameAlert = previous !== undefined && previous.alert.alertId === alert.alertId;
  if (sameAlert && alert.seq <= previous.alert.seq) return { state, send: [], decision: 'duplicate' };

  const notifiedAt = previous?.notifiedAt ?? null;
  // An alert met half-way (the throttle's state lost in a restart) was most likely told: better a clear too many
  // than an alert left open at the receiver.
  const told = sameAlert ? previous.told : alert.seq > 1;
  const recent = notifiedAt !== null && now - notifiedAt < (policy.minInterval ?? 0);
  const entry: ThrottleEntry = { alert, notifiedAt, told, held: false, repeats: sameAlert ? previous.repeats : 0 };

  let decision: Decision;
  if (alert.transition === 'acknowledged') decision = 'sent';
  else if (alert.transition === 'cleared') decision = told ? 'sent' : 'untold';
  else decision = recent ? 'held' : 'sent';

  const next: ThrottleEntry =
    decision === 'sent' ? { ...entry, notifiedAt: now, told: true } : decision === 'held' ? { ...entry, held: true } : entry;
  return { state: put(state, next), send: decision === 'sent' ? [{ alert, repeat: 0 }] : [], decision };
}

/**
 * What is due at `now`: held transitions whose minInterval has passed and reminders of open alerts. Also forgets
 * cleared alerts once their minInterval is over. `policyFor` gives a rule's policy (undefined: the rule is gone,
 * so nothing is repeated).
 */
export function due(state: ThrottleState, now: number, policyFor: (ruleId: string) => NotifyPolicy | undefined): ThrottleStep {
  const send: Notification[] = [];
  const entries: ThrottleState['entries'] = {};
  let changed = false;
  for (const [ruleId, devices] of Object.entries(state.entries)) {
    const policy = policyFor(ruleId) ?? {};
    const kept: Record<string, ThrottleEntry> = {};
    for (const [deviceId, entry] of Object.entries(devices)) {
      const { next, notification } = dueEntry(entry, policy, now);
      if (notification !== undefined) send.push(notification);
      if (next !== entry) changed = true;
      if (next !== undefined) kept[deviceId] = next;
    }
    if (Object.keys(kept).length > 0) entries[ruleId] = kept;
  }
  return { state: changed ? { v: 1, entries } : state, send };
}

/**
 * The earliest `now` at which `due` has something to do (send or forget), or null when nothing waits: the caller
 * sets one timer for it instead of polling.
 */
export function nextDueAt(state: ThrottleState, policyFor: (ruleId: string) => NotifyPolicy | undefined): number | null {
  let earliest: number | null = null;
  for (const [ruleId, devices] of Object.entries(state.entries)) {
    const policy = policyFor(ruleId) ?? {};
    for (const entry of Object.values(devices)) {
      const at = dueAt(entry, policy);
      if (at !== null && (earliest === null || at < earliest)) earliest = at;
    }
  }
  return earliest;
}

/** The number of alerts the state remembers, for a gauge or a test. */
export function entryCount(state: ThrottleState): number {
  return Object.values(state.entries).reduce((sum, devices) => sum + Object.keys(devices).length, 0);
}

function dueEntry(entry: ThrottleEntry, policy: NotifyPolicy, now: number): { next: ThrottleEntry | undefined; notification?: Notification } {
  const at = dueAt(entry, policy);
  if (at === null || now < at) return { next: entry };
  if (entry.alert.state === 'cleared') return { next: undefined };
  if (entry.held) return { next: { ...entry, held: false, told: true, notifiedAt: now }, notification: { alert: entry.alert, repeat: 0 } };
  const repeats = entry.repeats + 1;
  return { next: { ...entry, repeats, notifiedAt: now }, notification: { alert: entry.alert, repeat: repeats } };
}

/** When this entry next needs `due`: its held transition, its reminder, or forgetting it once cleared. */
function dueAt(entry: ThrottleEntry, policy: NotifyPolicy): number | null {
  const minInterval = policy.minInterval ?? 0;
  const since = entry.notifiedAt;
  if (entry.alert.state === 'cleared') return since === null ? 0 : since + minInterval;
  if (entry.held) return since === null ? 0 : since + minInterval;
  const acknowledged = entry.alert.transition === 'acknowledged' || entry.alert.ackBy !== undefined;
  if (!entry.told || acknowledged || policy.repeatEvery === undefined || since === null) return null;
  return since + Math.max(policy.repeatEvery, minInterval);
}

function put(state: ThrottleState, entry: ThrottleEntry): ThrottleState {
  const { ruleId, deviceId } = entry.alert;
  return { v: 1, entries: { ...state.entries, [ruleId]: { ...state.entries[ruleId], [deviceId]: entry } } };
}

/** The policy functions around one mutable state, for a caller that keeps it in memory. */
export interface NotifyThrottle {
  /** The notification this transition makes now, if any. */
  decide(alert: AlertTransition, now: number): Notification | undefined;
  due(now: number): Notification[];
  nextDueAt(): number | null;
  /** The state to write to the changelog (plain JSON). */
  state(): ThrottleState;
}

export function createNotifyThrottle(policyFor: (ruleId: string) => NotifyPolicy | undefined, initial: ThrottleState = initialThrottleState()): NotifyThrottle {
  let state = initial;
  return {
    decide(alert, now) {
      const step = onTransition(state, alert, policyFor(alert.ruleId) ?? {}, now);
      state = step.state;
      return step.send[0];
    },
    due(now) {
      const step = due(state, now, policyFor);
      state = step.state;
      return step.send;
    },
    nextDueAt: () => nextDueAt(state, policyFor),
    state: () => state,
  };
}
