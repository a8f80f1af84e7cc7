import { describe, expect, it } from 'vitest';
import { applyStatus, holdStatus, isStatusEvent, statusApplies, type HeldStatus, type StatusChange } from '../../../core/device-status.js';
import type { DeviceEvent } from '../../../core/reading.js';

// A device on gateway A since 1000 reconnects through gateway B at 5000; A closes its old connection (`takeover`) a
// few ms later, so A's offline comes after B's online. B's connection ends for real at 9000.
const onA: StatusChange = { type: 'online', ts: 1000, session: 'gw-a#1', connectedAt: 1000 };
const onB: StatusChange = { type: 'online', ts: 5000, session: 'gw-b#1', connectedAt: 5000 };
const offA: StatusChange = { type: 'offline', ts: 5003, session: 'gw-a#1', connectedAt: 1000 };
const offB: StatusChange = { type: 'offline', ts: 9000, session: 'gw-b#1', connectedAt: 5000 };

const unknown = (): HeldStatus => ({ status: 'unknown' });
const heldBy = (change: StatusChange): HeldStatus => {
  const held = unknown();
  applyStatus(held, change);
  return held;
};
/** The status after the changes in this order, `online@5000` style. */
function after(...changes: StatusChange[]): string {
  const held = unknown();
  for (const change of changes) applyStatus(held, change);
  return `${held.status}@${held.statusSince}`;
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, index) => permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]));
}
const named = (change: StatusChange): string => `${change.type}(${change.session})`;

describe('device status: the newest connection wins', () => {
  it.each([
    ['the old connection’s takeover offline after the new one’s online: still online', [onA, onB, offA], 'online@5000'],
    ['the old connection’s offline first, then the new online', [onA, offA, onB], 'online@5000'],
    ['the new online before the old connection’s online and offline', [onB, onA, offA], 'online@5000'],
    ['an event repeated (a redelivered batch) changes nothing', [onA, onB, offA, onB, offA, onA], 'online@5000'],
    ['the new connection going offline for real later: offline', [onA, onB, offA, offB], 'offline@9000'],
    ['its online repeated after its offline does not bring it back', [onB, offB, onB], 'offline@9000'],
    ['a newer connection’s offline ahead of its online: the online, later, is that connection’s past', [onA, offB, onB], 'offline@9000'],
    // statusSince is the ts of the event that set the status, whichever connection's clock it came from.
    ['statusSince is the applied event’s ts, even when it is earlier than the one it replaces', [offA, onB], 'online@5000'],
  ])('%s', (_name, changes, expected) => {
    expect(after(...changes)).toBe(expected);
  });

  it('ends online since B’s login, in every arrival order of the takeover’s events', () => {
    for (const order of permutations([onA, onB, offA])) expect([order.map(named).join(' '), after(...order)]).toEqual([order.map(named).join(' '), 'online@5000']);
  });

  it('ends offline since B’s disconnect, in every arrival order, once B’s connection has ended', () => {
    for (const order of permutations([onA, onB, offA, offB])) expect([order.map(named).join(' '), after(...order)]).toEqual([order.map(named).join(' '), 'offline@9000']);
  });

  it('two connections that logged in in the same millisecond: an online wins over the other’s offline', () => {
    const onC: StatusChange = { type: 'online', ts: 5000, session: 'gw-c#7', connectedAt: 5000 };
    const offC: StatusChange = { ...onC, type: 'offline', ts: 5001 };
    expect(statusApplies(heldBy(onB), offC)).toBe(false);
    expect(statusApplies(heldBy(offC), onB)).toBe(true);
    expect(after(onB, onC, offC)).toBe('offline@5001'); // its own session's offline ends the connection held
    expect(after(onC, offC, onB)).toBe('online@5000');
  });
});

describe('device status: events of older producers (no session, no connectedAt)', () => {
  const legacy = (type: 'online' | 'offline', ts: number): StatusChange => ({ type, ts });

  it.each([
    ['the latest ts wins', [legacy('online', 5), legacy('offline', 3)], 'online@5'],
    ['a tie goes to the later arrival', [legacy('online', 5), legacy('offline', 5)], 'offline@5'],
    ['a legacy event after a connection’s: by ts', [onB, legacy('offline', 6000)], 'offline@6000'],
    ['a legacy event older than the connection’s: left out', [onB, legacy('offline', 4000)], 'online@5000'],
    ['a connection’s event after a legacy one: by ts', [legacy('offline', 6000), onB], 'offline@6000'],
  ])('%s', (_name, changes, expected) => {
    expect(after(...changes)).toBe(expected);
  });

  it('an event with only half of the connection is ordered by ts', () => {
    expect(statusApplies(heldBy(onB), { type: 'offline', ts: 6000, session: 'gw-a#1' })).toBe(true);
    expect(statusApplies(heldBy(onB), { type: 'offline', ts: 6000, connectedAt: 1000 })).toBe(true);
  });

  it('a status held from a legacy event keeps no connection of the one before it', () => {
    const held = heldBy(onB);
    applyStatus(held, legacy('offline', 6000));
    expect(held).toEqual({ status: 'offline', statusSince: 6000 });
    expect(Object.keys(held).sort()).toEqual(['status', 'statusSince']);
  });
});

describe('device status helpers', () => {
  it('applyStatus leaves a status it does not take untouched, and says so', () => {
    const held = heldBy(onB);
    expect(applyStatus(held, offA)).toBe(false);
    expect(held).toEqual({ status: 'online', statusSince: 5000, session: 'gw-b#1', connectedAt: 5000 });
  });

  it('holdStatus copies a status whole: since and connection, or their absence', () => {
    const into: HeldStatus = { status: 'online', statusSince: 5000, session: 'gw-b#1', connectedAt: 5000 };
    holdStatus(into, { status: 'offline' });
    expect(Object.keys(into)).toEqual(['status']);
    holdStatus(into, { status: 'online', statusSince: 7, session: 's', connectedAt: 7 });
    expect(into).toEqual({ status: 'online', statusSince: 7, session: 's', connectedAt: 7 });
  });

  it('only online and offline events set a status', () => {
    const event = (type: DeviceEvent['type']): DeviceEvent => ({ deviceId: 'd', type, reason: 'r', ts: 1 });
    expect((['online', 'offline', 'acl-violation', 'auth-failed', 'auth-failures', 'refused'] as const).filter((type) => isStatusEvent(event(type)))).toEqual(['online', 'offline']);
  });
});
