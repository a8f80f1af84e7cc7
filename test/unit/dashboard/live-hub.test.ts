import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Reading } from '../../../core/reading.js';
import { createLiveHub, type LiveHub, type LiveHubSink } from '../../../dashboard/live-hub.js';
import { timeNsOfMs } from '../../../core/reading.js';

interface Sent {
  room: string;
  event: string;
  payload: unknown;
  droppable: boolean;
  at: number;
}

const reading = (deviceId: string, value: number, ts: number): Reading => ({ deviceId, metric: 'temperature', value, ts, timeNs: timeNsOfMs(ts), receivedAt: ts });

describe('createLiveHub (throttled push)', () => {
  let sent: Sent[];
  let members: Set<string>;
  let hub: LiveHub;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    sent = [];
    members = new Set(['fleet', 'device:d1']);
    const sink: LiveHubSink = {
      hasMembers: (room) => members.has(room),
      emit: (room, event, payload, droppable) => sent.push({ room, event, payload, droppable, at: Date.now() }),
    };
    hub = createLiveHub({ batchIntervalMs: 250, fleetIntervalMs: 400 }, sink);
  });

  afterEach(() => {
    hub.close();
    vi.useRealTimers();
  });

  it('sends a device room every reading, batched once per batch interval, droppable', () => {
    for (let i = 0; i < 10; i++) hub.addReadings([reading('d1', i, Date.now() + i)]);
    expect(sent.filter((s) => s.event === 'readings')).toEqual([]);
    vi.advanceTimersByTime(250);
    const frames = sent.filter((s) => s.event === 'readings');
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ room: 'device:d1', droppable: true, payload: { deviceId: 'd1', dropped: 0 } });
    expect((frames[0]!.payload as { readings: unknown[] }).readings).toHaveLength(10);
    vi.advanceTimersByTime(1000);
    expect(sent.filter((s) => s.event === 'readings')).toHaveLength(1); // nothing new, nothing sent
  });

  it('builds no frames for rooms without members', () => {
    hub.addReadings([reading('d2', 1, Date.now())]);
    vi.advanceTimersByTime(250);
    expect(sent.filter((s) => s.room === 'device:d2')).toEqual([]);
  });

  it('sends the fleet room only changed rows, at most once per fleet interval', () => {
    // 10 readings/s from 50 devices for 2 s: 1000 readings, but only 5 fleet frames.
    for (let step = 0; step < 20; step++) {
      hub.addReadings(Array.from({ length: 50 }, (_, i) => reading(`d${i}`, step, Date.now())));
      vi.advanceTimersByTime(100);
    }
    const fleet = sent.filter((s) => s.event === 'fleet');
    expect(fleet).toHaveLength(5);
    expect(fleet.every((f) => f.droppable)).toBe(true);
    const last = fleet[fleet.length - 1]!.payload as { devices: { id: string; msgsPerSec: number; latest: { temperature: { value: number } } }[] };
    expect(last.devices).toHaveLength(50);
    expect(last.devices[0]!.latest.temperature.value).toBe(19);
    expect(last.devices[0]!.msgsPerSec).toBeGreaterThan(5);
  });

  it('fans out every reading of every device to the fleet-wide readings room', () => {
    members.add('fleet:readings');
    hub.addReadings([reading('d1', 1, Date.now()), reading('d9', 2, Date.now())]);
    vi.advanceTimersByTime(250);
    const wide = sent.find((s) => s.room === 'fleet:readings');
    expect((wide?.payload as { readings: { deviceId: string }[] }).readings.map((r) => r.deviceId)).toEqual(['d1', 'd9']);
  });

  it('sends status events at once and never droppable; auth failures only to the device room', () => {
    hub.addDeviceEvent({ deviceId: 'd1', type: 'offline', reason: 'keepalive timeout', ts: Date.now() });
    expect(sent.map((s) => [s.room, s.event, s.droppable])).toEqual([
      ['device:d1', 'device-event', false],
      ['fleet', 'device-event', false],
    ]);
    hub.addDeviceEvent({ deviceId: 'd1', type: 'auth-failed', reason: 'bad secret', ts: Date.now() });
    expect(sent.filter((s) => s.room === 'fleet')).toHaveLength(1);
    expect(hub.snapshot().devices).toEqual([expect.objectContaining({ id: 'd1', status: 'offline' })]);
  });

  it('keeps a device online in the fleet frames when the old gateway’s takeover offline follows the new gateway’s online', () => {
    const t = Date.now();
    hub.addDeviceEvent({ deviceId: 'd1', type: 'online', reason: 'connected over tcp', ts: t, session: 'gw-a#1', connectedAt: t, gateway: 'gw-a' });
    hub.addDeviceEvent({ deviceId: 'd1', type: 'online', reason: 'connected over tcp', ts: t + 5000, session: 'gw-b#1', connectedAt: t + 5000, gateway: 'gw-b' });
    vi.advanceTimersByTime(400);
    hub.addDeviceEvent({ deviceId: 'd1', type: 'offline', reason: 'takeover', ts: t + 5003, session: 'gw-a#1', connectedAt: t, gateway: 'gw-a' });
    vi.advanceTimersByTime(400);
    const fleet = sent.filter((s) => s.event === 'fleet').map((s) => (s.payload as { devices: { status: string; session?: string }[] }).devices);
    expect(fleet).toEqual([[expect.objectContaining({ status: 'online', session: 'gw-b#1' })]]); // nothing changed with the takeover
    expect(hub.snapshot().devices).toEqual([expect.objectContaining({ id: 'd1', status: 'online', statusSince: t + 5000, session: 'gw-b#1', connectedAt: t + 5000 })]);
    // Every event still reaches the rooms (the device view lists them); the page orders them by the same rule.
    expect(sent.filter((s) => s.event === 'device-event' && s.room === 'fleet')).toHaveLength(3);
  });

  it('sends dead letters with the batch tick, not droppable', () => {
    hub.addDeadLetter({ deviceId: 'd1', code: 'INVALID_JSON', reason: 'bad', topic: 'devices/d1/telemetry', payload: 'e30=', receivedAt: Date.now() });
    vi.advanceTimersByTime(250);
    expect(sent).toEqual([expect.objectContaining({ room: 'device:d1', event: 'dead-letters', droppable: false })]);
  });
});
