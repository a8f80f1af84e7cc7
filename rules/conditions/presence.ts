/**
 * The `silence` and `offline` conditions (contract: rules/condition-schema.ts): timers on the gateway's clock,
 * fired by ticks. The raise is stamped with the moment the timer ran out (last seen + after), not with the tick
 * that noticed it, so the alert id is the same however often, or late, ticks come.
 */
import { applyStatus, isStatusEvent, type HeldStatus } from '../../core/device-status.js';
import type { OfflineCondition, SilenceCondition } from '../condition-schema.js';
import type { OpenFlag, RuleInput, Step } from './types.js';

export interface SilenceState extends OpenFlag {
  type: 'silence';
  /** receivedAt of the newest reading that counts; null until one arrives (nothing to miss yet). */
  lastSeen: number | null;
}

export function initialSilenceState(): SilenceState {
  return { type: 'silence', open: false, lastSeen: null };
}

export function stepSilence(condition: SilenceCondition, state: SilenceState, input: RuleInput): Step<SilenceState> {
  if (input.kind === 'tick') {
    const { lastSeen } = state;
    if (state.open || lastSeen === null || input.now - lastSeen < condition.after) return { state };
    const transition = { type: 'raised' as const, ts: lastSeen + condition.after, value: input.now - lastSeen, window: { from: lastSeen, to: input.now }, ...metricOf(condition) };
    return { state: { ...state, open: true }, transition };
  }
  if (input.kind !== 'reading' || (condition.metric !== undefined && input.reading.metric !== condition.metric)) return { state };
  const { receivedAt } = input.reading;
  const lastSeen = Math.max(state.lastSeen ?? receivedAt, receivedAt);
  if (!state.open) return { state: { ...state, lastSeen } };
  const silentFor = receivedAt - (state.lastSeen ?? receivedAt);
  return { state: { ...state, open: false, lastSeen }, transition: { type: 'cleared', ts: receivedAt, value: silentFor, ...metricOf(condition) } };
}

function metricOf(condition: SilenceCondition): { metric?: string } {
  return condition.metric !== undefined ? { metric: condition.metric } : {};
}

export interface OfflineState extends OpenFlag {
  type: 'offline';
  /** ts of the `offline` event that began the current outage; null while online or unknown. */
  offlineSince: number | null;
  /** ts of the newest online/offline event applied: an older one arriving later is stale. */
  lastEventTs: number | null;
  /**
   * The connection of that event (docs/contracts.md §7 `session`, `connectedAt`), which the next one is ordered
   * against; absent when it had none (an older producer, or a state written before them).
   */
  session?: string;
  connectedAt?: number;
}

export function initialOfflineState(): OfflineState {
  return { type: 'offline', open: false, offlineSince: null, lastEventTs: null };
}

export function stepOffline(condition: OfflineCondition, state: OfflineState, input: RuleInput): Step<OfflineState> {
  if (input.kind === 'tick') {
    const { offlineSince } = state;
    if (state.open || offlineSince === null || input.now - offlineSince < condition.after) return { state };
    const transition = { type: 'raised' as const, ts: offlineSince + condition.after, value: input.now - offlineSince, window: { from: offlineSince, to: input.now } };
    return { state: { ...state, open: true }, transition };
  }
  if (input.kind !== 'event' || !isStatusEvent(input.event)) return { state };
  const { type, ts } = input.event;
  // Ordered by connection, as every status consumer orders it (core/device-status.ts): a takeover's `offline` of the
  // old connection, arriving after the new one's `online`, starts no outage.
  const held = heldStatusOf(state);
  if (!applyStatus(held, input.event)) return { state };
  const connection = held.session !== undefined && held.connectedAt !== undefined ? { session: held.session, connectedAt: held.connectedAt } : {};
  if (type === 'offline') return { state: { type: 'offline', open: state.open, offlineSince: state.offlineSince ?? ts, lastEventTs: ts, ...connection } };
  const next: OfflineState = { type: 'offline', open: false, offlineSince: null, lastEventTs: ts, ...connection };
  if (!state.open) return { state: next };
  return { state: next, transition: { type: 'cleared', ts, value: ts - (state.offlineSince ?? ts) } };
}

/** The status the state stands for: offline while an outage runs, else online once an event came. */
function heldStatusOf(state: OfflineState): HeldStatus {
  if (state.lastEventTs === null) return { status: 'unknown' };
  return { status: state.offlineSince !== null ? 'offline' : 'online', statusSince: state.lastEventTs, session: state.session, connectedAt: state.connectedAt };
}
