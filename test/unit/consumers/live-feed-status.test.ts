import { afterEach, describe, expect, it } from 'vitest';
import { createFleetState } from '../../../core/fleet-state.js';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import type { DeviceEvent } from '../../../core/reading.js';
import { encodeEvent } from '../../../core/records.js';
import { createEmbeddedBus } from '../../../core/streams/embedded.js';
import type { StreamBus } from '../../../core/seams.js';
import { createLiveFeed, type LiveFeed } from '../../../consumers/live-feed.js';

// The live feed's status (consumers/live-feed.ts): the fleet state it keeps for the API and the dashboard's seed.

let bus: StreamBus | undefined;
let feed: LiveFeed | undefined;
afterEach(async () => {
  await feed?.close();
  await bus?.close();
  feed = undefined;
  bus = undefined;
});

describe('live feed: device status', () => {
  it('keeps a device online on its new gateway when the old gateway’s takeover offline comes after the new online', async () => {
    bus = createEmbeddedBus({ partitions: 3 });
    const producer = await bus.createProducer();
    const fleet = createFleetState({ windowMs: 60_000, maxPerSeries: 10, maxReadings: 100 });
    feed = createLiveFeed({ warmWindowMs: 60_000 }, { bus, fleet, logger: createLogger('silent'), metrics: createMetrics() });
    const heard: DeviceEvent[] = [];
    feed.on('device-event', (event) => heard.push(event));
    await feed.start();

    const a = Date.now() - 10_000;
    const b = a + 5000;
    await producer.send('events', [
      encodeEvent({ deviceId: 'd1', type: 'online', reason: 'connected over tcp', ts: a, session: 'gw-a#1', connectedAt: a, gateway: 'gw-a' }),
      encodeEvent({ deviceId: 'd1', type: 'online', reason: 'connected over tcp', ts: b, session: 'gw-b#1', connectedAt: b, gateway: 'gw-b' }),
      encodeEvent({ deviceId: 'd1', type: 'offline', reason: 'takeover', ts: b + 3, session: 'gw-a#1', connectedAt: a, gateway: 'gw-a' }),
    ]);
    await expect.poll(() => heard.length).toBe(3);
    expect(fleet.devices()).toEqual([expect.objectContaining({ id: 'd1', status: 'online', statusSince: b, session: 'gw-b#1', connectedAt: b })]);
    expect(heard[2]).toMatchObject({ type: 'offline', reason: 'takeover', session: 'gw-a#1', connectedAt: a, gateway: 'gw-a' });

    // The connection on B ends for real.
    await producer.send('events', [encodeEvent({ deviceId: 'd1', type: 'offline', reason: 'connection-lost', ts: b + 4000, session: 'gw-b#1', connectedAt: b, gateway: 'gw-b' })]);
    await expect.poll(() => heard.length).toBe(4);
    expect(fleet.devices()).toEqual([expect.objectContaining({ id: 'd1', status: 'offline', statusSince: b + 4000 })]);
    await producer.close();
  });
});
