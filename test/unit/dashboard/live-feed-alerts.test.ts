import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createFleetState } from '../../../core/fleet-state.js';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import { encodeAlert } from '../../../core/records.js';
import { createEmbeddedBus } from '../../../core/streams/embedded.js';
import type { StreamBus } from '../../../core/seams.js';
import { createLiveFeed, type LiveFeed } from '../../../consumers/live-feed.js';
import { raisedAlert } from '../../support/alerts.js';

// The live feed's alert reader (consumers/live-feed.ts), which the dashboard's alert book hangs on.

const alert = raisedAlert;

let bus: StreamBus | undefined;
let feed: LiveFeed | undefined;
afterEach(async () => {
  await feed?.close();
  await bus?.close();
  feed = undefined;
  bus = undefined;
});

describe('live feed: alerts', () => {
  it('reads the alerts stream from its earliest record, however old, then each new transition; records that are not alerts are skipped and counted', async () => {
    bus = createEmbeddedBus({ partitions: 3 });
    const producer = await bus.createProducer();
    const longAgo = Date.now() - 30 * 24 * 3_600_000;
    // A month old, far outside any warm-up window, and still open.
    await producer.send('alerts', [encodeAlert(alert('ancient', { raisedAt: longAgo, ts: longAgo }))]);
    await producer.send('alerts', [{ key: 'dev-1', value: '{"not":"an alert"}' }, { key: 'dev-2', value: 'garbage' }]);

    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    feed = createLiveFeed(
      { warmWindowMs: 60_000 },
      { bus, fleet: createFleetState({ windowMs: 60_000, maxPerSeries: 10, maxReadings: 100 }), logger: createLogger('debug', { destination }), metrics: createMetrics() },
    );
    const heard: string[] = [];
    feed.on('alert', (t) => heard.push(`${t.alertId}#${t.seq}`));
    await feed.start();
    await expect.poll(() => heard).toEqual(['ancient#1']);

    await producer.send('alerts', [encodeAlert(alert('ancient', { transition: 'cleared', state: 'cleared', seq: 2, ts: Date.now(), clearReason: 'condition' }))]);
    await expect.poll(() => heard).toEqual(['ancient#1', 'ancient#2']);
    const skipped = lines.filter((l) => l.msg === 'skipped records that are not alert transitions');
    expect(skipped.reduce((sum, l) => sum + (l.count as number), 0)).toBe(2);
    await producer.close();
  });
});
