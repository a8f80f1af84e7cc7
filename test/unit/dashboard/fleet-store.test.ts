import { describe, expect, it } from 'vitest';
import type { DeviceEventMessage, FleetRow } from '../../../dashboard/protocol.js';
import { createFleetStore } from '../../../dashboard/web/fleet-store.js';

// The page's fleet store (dashboard/web/fleet-store.ts): status events applied between fleet frames, ordered as the
// server orders them (core/device-status.ts).

const row = (fields: Partial<FleetRow>): FleetRow => ({ id: 'd1', status: 'unknown', lastSeen: 0, msgsPerSec: 0, readingsPerSec: 0, latest: {}, ...fields });
const online = (ts: number, session: string, connectedAt = ts): DeviceEventMessage => ({ deviceId: 'd1', type: 'online', reason: 'connected over tcp', ts, session, connectedAt });
const offline = (ts: number, session: string, connectedAt: number, reason = 'connection-lost'): DeviceEventMessage => ({ deviceId: 'd1', type: 'offline', reason, ts, session, connectedAt });

describe('fleet store: device status', () => {
  it('keeps a device online when the old gateway’s takeover offline comes after the new gateway’s online', () => {
    const store = createFleetStore();
    store.applyEvent(online(1000, 'gw-a#1'));
    store.applyEvent(online(5000, 'gw-b#1'));
    const version = store.version;
    store.applyEvent(offline(5003, 'gw-a#1', 1000, 'takeover'));
    expect(store.rows.get('d1')).toMatchObject({ status: 'online', statusSince: 5000, session: 'gw-b#1', connectedAt: 5000 });
    expect(store.version).toBe(version); // nothing to redraw

    store.applyEvent(offline(9000, 'gw-b#1', 5000));
    expect(store.rows.get('d1')).toMatchObject({ status: 'offline', statusSince: 9000 });
  });

  it('orders an event after a snapshot by the connection the snapshot’s row holds', () => {
    const store = createFleetStore();
    store.applySnapshot({ ts: Date.now(), devices: [row({ status: 'online', statusSince: 5000, session: 'gw-b#1', connectedAt: 5000, lastSeen: 5000 })] });
    store.applyEvent(offline(5003, 'gw-a#1', 1000, 'takeover'));
    expect(store.rows.get('d1')).toMatchObject({ status: 'online', statusSince: 5000 });
  });

  it('a device first heard of through an event gets that event’s status and connection', () => {
    const store = createFleetStore();
    store.applyEvent(offline(9000, 'gw-b#1', 5000));
    expect(store.rows.get('d1')).toMatchObject({ status: 'offline', statusSince: 9000, session: 'gw-b#1', connectedAt: 5000, lastSeen: 9000 });
  });

  it('a fleet row without a connection leaves none of the one held before', () => {
    const store = createFleetStore();
    store.applyEvent(online(5000, 'gw-b#1'));
    store.applyFrame({ ts: Date.now(), devices: [row({ status: 'offline', statusSince: 6000, lastSeen: 6000 })] });
    const state = store.rows.get('d1')!;
    expect([state.status, state.statusSince, 'session' in state, 'connectedAt' in state]).toEqual(['offline', 6000, false, false]);
    // Ordered by ts again, as the row's status came from an older producer's event.
    store.applyEvent(offline(5003, 'gw-a#1', 1000, 'takeover'));
    expect(state.statusSince).toBe(6000);
  });

  it('events of older producers (no connection) keep the latest ts', () => {
    const store = createFleetStore();
    store.applyEvent({ deviceId: 'd1', type: 'online', reason: 'connected over tcp', ts: 5 });
    store.applyEvent({ deviceId: 'd1', type: 'offline', reason: 'disconnect', ts: 3 });
    expect(store.rows.get('d1')).toMatchObject({ status: 'online', statusSince: 5 });
  });

  it('other events set no status', () => {
    const store = createFleetStore();
    store.applyEvent({ deviceId: 'd1', type: 'auth-failed', reason: 'bad-credentials', ts: 5 });
    expect(store.rows.size).toBe(0);
  });
});
