import { describe, expect, it } from 'vitest';
import { createDeviceActivity } from '../../../dashboard/activity.js';

describe('createDeviceActivity', () => {
  it('keeps the newest events per device, newest first', () => {
    const activity = createDeviceActivity({ maxPerDevice: 3, maxDevices: 10 });
    for (let ts = 1; ts <= 5; ts++) activity.addEvent({ deviceId: 'd1', type: ts % 2 ? 'online' : 'offline', reason: 'r', ts });
    expect(activity.events('d1').map((e) => e.ts)).toEqual([5, 4, 3]);
    expect(activity.events('nobody')).toEqual([]);
  });

  it('forgets the least recently active device past maxDevices (auth failures carry any username)', () => {
    const activity = createDeviceActivity({ maxPerDevice: 3, maxDevices: 2 });
    activity.addEvent({ deviceId: 'a', type: 'online', reason: '', ts: 1 });
    activity.addEvent({ deviceId: 'b', type: 'online', reason: '', ts: 2 });
    activity.addEvent({ deviceId: 'a', type: 'offline', reason: '', ts: 3 });
    activity.addEvent({ deviceId: 'c', type: 'auth-failed', reason: '', ts: 4 });
    expect(activity.events('b')).toEqual([]);
    expect(activity.events('a')).toHaveLength(2);
  });

  it('counts dead letters per reason and lists them without payloads', () => {
    const activity = createDeviceActivity({ maxPerDevice: 3, maxDevices: 2 });
    activity.addDeadLetter({ deviceId: 'd1', code: 'INVALID_JSON', reason: 'bad', topic: 't', payload: 'e30=', receivedAt: 1 });
    activity.addDeadLetter({ deviceId: 'd2', code: 'INVALID_JSON', reason: 'bad', topic: 't', payload: 'e30=', receivedAt: 2 });
    expect(activity.deadLetterCounts()).toEqual({ INVALID_JSON: 2 });
    expect(activity.deadLetters('d1')).toEqual([{ deviceId: 'd1', code: 'INVALID_JSON', reason: 'bad', topic: 't', receivedAt: 1, bytes: 2 }]);
  });
});
