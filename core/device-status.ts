/**
 * A device's status, ordered by connection (contract: docs/contracts.md §7 Device events): the one rule every
 * status consumer applies — the fleet state, the live aggregator, the browser's fleet store, the rules' `offline`
 * condition.
 *
 * Several gateways serve one fleet. When a device logs in on gateway B while its old connection is still open on A,
 * A closes that connection (`takeover`) and its `offline` comes after B's `online`: ordered by arrival or by `ts`,
 * the device would show offline while it is connected to B. So a status belongs to the device's newest connection
 * by `connectedAt`:
 * - a newer connection's event applies, an older connection's does not;
 * - within one connection (`session`), its `offline` ends it: an `online` of a session that already went offline is
 *   a repeat, and does not bring it back;
 * - two connections that logged in in the same millisecond: an `online` wins over the other one's `offline`, and of
 *   two `online`s the later to arrive (nothing says which of them the takeover kept);
 * - events without `session` and `connectedAt` (older producers), or a status held from one, fall back to the
 *   order of `ts`, the latest winning (ties: the later to arrive).
 * The status's `statusSince` stays the event's `ts`.
 *
 * `connectedAt` is on the clock of the gateway that took the connection: two connections closer together than the
 * gateways' clocks disagree may be ordered the wrong way round.
 *
 * Plain code without Node's types: the browser bundle runs it too (dashboard/web/fleet-store.ts), so the page orders
 * status events exactly as the server did.
 */
import type { DeviceEvent } from './reading.js';
import type { DeviceStatus } from './reports.js';

/** An `online` or `offline` event, as far as status needs it. */
export type StatusEvent = Pick<DeviceEvent, 'deviceId' | 'ts' | 'session' | 'connectedAt'> & { type: DeviceStatus };

/** The part of a status event the rule orders by. */
export type StatusChange = Omit<StatusEvent, 'deviceId'>;

/** A device's status as a consumer holds it: what the last event it applied said, since its `ts`, and of which connection. */
export interface HeldStatus {
  status: DeviceStatus | 'unknown';
  statusSince?: number;
  session?: string;
  connectedAt?: number;
}

/** Whether the event sets a status: only `online` and `offline` do (the rest are a device's other news). */
export function isStatusEvent<E extends DeviceEvent>(event: E): event is E & { type: DeviceStatus } {
  return event.type === 'online' || event.type === 'offline';
}

/** Whether `change` replaces the status `held` (the rule above). Pure. */
export function statusApplies(held: HeldStatus, change: StatusChange): boolean {
  if (held.status === 'unknown' || held.statusSince === undefined) return true;
  if (held.session === undefined || held.connectedAt === undefined || change.session === undefined || change.connectedAt === undefined) {
    return change.ts >= held.statusSince;
  }
  if (change.connectedAt !== held.connectedAt) return change.connectedAt > held.connectedAt;
  if (change.session === held.session) return !(held.status === 'offline' && change.type === 'online');
  return change.type === 'online';
}

/** Applies `change` to `held` when the rule takes it, in place; whether it did. */
export function applyStatus(held: HeldStatus, change: StatusChange): boolean {
  if (!statusApplies(held, change)) return false;
  holdStatus(held, { status: change.type, statusSince: change.ts, session: change.session, connectedAt: change.connectedAt });
  return true;
}

/**
 * Puts `from`'s status in `into`, in place, leaving nothing of the connection `into` held before: a status taken from
 * an older producer's event must not keep the previous connection to be ordered against.
 */
export function holdStatus(into: HeldStatus, from: HeldStatus): void {
  into.status = from.status;
  if (from.statusSince !== undefined) into.statusSince = from.statusSince;
  else delete into.statusSince;
  if (from.session !== undefined && from.connectedAt !== undefined) {
    into.session = from.session;
    into.connectedAt = from.connectedAt;
  } else {
    delete into.session;
    delete into.connectedAt;
  }
}
