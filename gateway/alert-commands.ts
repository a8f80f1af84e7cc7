import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { AlertTransition } from '../core/alerts.js';
import { decodeAlert } from '../core/records.js';
import type { StreamBus, StreamConsumer } from '../core/seams.js';

export interface AlertCommands {
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Tells devices about their own alerts when the rule asks for it (`notify: { device: true }`): every gateway reads
 * the alerts stream and publishes each such transition to `devices/{id}/commands/alerts` on its broker, where the
 * device, if connected here, receives it. A device may act on its own alarm (open a valve, beep).
 */
export function createAlertCommands(deps: {
  bus: StreamBus;
  send: (deviceId: string, command: string, payload: Buffer) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
}): AlertCommands {
  const log = deps.logger.child({ module: 'alert-commands' });
  let consumer: StreamConsumer | undefined;

  async function deliver(alert: AlertTransition): Promise<void> {
    const { alertId, ruleId, severity, transition, state, value, metric, window, raisedAt, ts, seq, description, ackBy, ackAt, clearReason } = alert;
    const payload = { alertId, ruleId, severity, transition, state, value, metric, window, raisedAt, ts, seq, description, ackBy, ackAt, clearReason };
    try {
      await deps.send(alert.deviceId, 'alerts', Buffer.from(JSON.stringify(payload)));
      deps.metrics.alertNotifications.inc({ channel: 'device', outcome: 'sent' });
    } catch (error) {
      deps.metrics.alertNotifications.inc({ channel: 'device', outcome: 'failed' });
      log.warn({ deviceId: alert.deviceId, alertId, err: error }, 'alert not delivered to the device');
    }
  }

  return {
    async start() {
      // From now on: a device reconnecting later is not sent alerts it missed (it can ask the API).
      consumer = deps.bus.createConsumer({ streams: ['alerts'], from: 'latest', fetchWaitMs: 50 });
      await consumer.run(async (batch) => {
        for (const record of batch.records) {
          const alert = decodeAlert(record);
          if (alert?.notifyDevice) await deliver(alert);
        }
      });
    },
    close: async () => consumer?.close(),
  };
}
