import { describe, expect, it } from 'vitest';
import { capturedLogger } from '../../support/logs.js';
import { createMetrics } from '../../../core/metrics.js';
import { sluiceError, ErrorCodes } from '../../../core/errors.js';
import type { StreamProducer } from '../../../core/seams.js';
import { telemetryTopic } from '../../../core/topics.js';
import { createBridge } from '../../../bridge/bridge.js';
import { defaultNormalizeOptions } from '../../../bridge/normalize/index.js';


/** A producer that refuses while `down` is true, as kafkajs does when the broker is gone. */
function switchableProducer() {
  const state = { down: false };
  const producer: StreamProducer = {
    send: async () => undefined,
    sendBatch: async () => {
      if (state.down) throw sluiceError(ErrorCodes.KAFKA_UNAVAILABLE, 'broker gone', { retriable: true });
    },
    close: async () => undefined,
  };
  return { producer, state };
}

const publish = (seq: number) => ({ deviceId: 'd1', topic: telemetryTopic('d1'), payload: Buffer.from(`{"seq":${seq}}`), receivedAt: Date.now() });
const OUTAGE = 'queue not accepting records; holding acknowledgements and retrying';
const RECOVERED = 'queue accepting records again';

describe('bridge outage log', () => {
  it('logs one start and one end with the duration, a stall right after recovery being the same outage', async () => {
    const { logger, lines } = capturedLogger('info');
    const { producer, state } = switchableProducer();
    const bridge = createBridge(
      { lingerMs: 1, maxBatchRecords: 10, maxInflightRecords: 100, normalize: defaultNormalizeOptions, outageSettleMs: 300 },
      { producers: [producer], logger, metrics: createMetrics() },
    );
    try {
      state.down = true;
      const held = bridge.ingest(publish(1));
      await expect.poll(() => lines.filter((l) => l.msg === OUTAGE).length).toBe(1);
      state.down = false;
      await held;
      // A second stall inside the settle window: no new start line, and no end line yet.
      state.down = true;
      const heldAgain = bridge.ingest(publish(2));
      await expect.poll(() => lines.filter((l) => l.msg === OUTAGE).length, { timeout: 500 }).toBe(1);
      state.down = false;
      await heldAgain;
      expect(lines.filter((l) => l.msg === RECOVERED)).toHaveLength(0);
      await expect.poll(() => lines.filter((l) => l.msg === RECOVERED).length, { timeout: 3000 }).toBe(1);
      expect(lines.filter((l) => l.msg === OUTAGE)).toHaveLength(1);
      expect(lines.find((l) => l.msg === RECOVERED)!.outageMs).toBeGreaterThan(0);
    } finally {
      await bridge.close();
    }
  });

  it('declares the end at close when the settle window is still open', async () => {
    const { logger, lines } = capturedLogger('info');
    const { producer, state } = switchableProducer();
    const bridge = createBridge(
      { lingerMs: 1, maxBatchRecords: 10, maxInflightRecords: 100, normalize: defaultNormalizeOptions, outageSettleMs: 60_000 },
      { producers: [producer], logger, metrics: createMetrics() },
    );
    state.down = true;
    const held = bridge.ingest(publish(1));
    await expect.poll(() => lines.filter((l) => l.msg === OUTAGE).length).toBe(1);
    state.down = false;
    await held;
    await bridge.close();
    expect(lines.filter((l) => l.msg === RECOVERED)).toHaveLength(1);
  });
});
