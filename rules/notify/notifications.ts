import type { AlertTransition } from '../../core/alerts.js';
import { ErrorCodes } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../core/metrics.js';
import { createDeadLetter, encodeDeadLetter } from '../../core/records.js';
import type { StreamProducer } from '../../core/seams.js';
import type { Rule } from '../schema.js';
import { createNotifyThrottle, policyOf, type Notification } from './throttle.js';
import { createWebhookNotifier, type WebhookTarget } from './webhook.js';

export interface AlertNotifications {
  /** Transitions now in the alerts stream: the ones a rule's webhook should hear about, throttled by its policy. */
  notify(transitions: readonly AlertTransition[]): void;
  close(): Promise<void>;
}

/**
 * The webhook side of alerts: each rule's `notify` policy (throttle.ts) decides what goes out and when reminders
 * are due; the webhook notifier (webhook.ts) delivers off the evaluation path, and what it gives up on becomes a
 * dead letter on `{prefix}.deadletter` (code NOTIFICATION_FAILED), where the activity view shows it. Devices hear
 * of their alerts from the gateway, which reads the alerts stream itself (gateway/alert-commands.ts).
 */
export function createAlertNotifications(
  options: { timeoutMs: number; retries: number; rules: () => readonly Rule[]; tickMs?: number; now?: () => number },
  deps: { producer: StreamProducer; logger: Logger; metrics: Metrics },
): AlertNotifications {
  const now = options.now ?? Date.now;
  const log = deps.logger.child({ module: 'rules-notify' });
  const ruleOf = (ruleId: string): Rule | undefined => options.rules().find((rule) => rule.id === ruleId);
  const webhook = createWebhookNotifier(
    { timeoutMs: options.timeoutMs, retries: options.retries, backoffMs: 500, maxQueued: 10_000 },
    {
      logger: deps.logger,
      metrics: deps.metrics,
      deadLetter: async (deviceId, reason, payload) => {
        const deadLetter = createDeadLetter({ deviceId, code: ErrorCodes.NOTIFICATION_FAILED, reason, topic: `devices/${deviceId}/commands/alerts`, payload: Buffer.from(payload), receivedAt: now() });
        await deps.producer.send('deadletter', [encodeDeadLetter(deadLetter)]).catch((error: unknown) => log.error({ err: error, deviceId, reason }, 'notification dead letter not written'));
      },
    },
  );
  const throttle = createNotifyThrottle((ruleId) => {
    const rule = ruleOf(ruleId);
    return rule?.notify?.webhook ? policyOf(rule) : undefined;
  });

  // The webhook an alert was raised under: its clear still goes there after an edit removed the rule.
  const targets = new Map<string, WebhookTarget>();
  const targetOf = (alert: AlertTransition): WebhookTarget | undefined => {
    const current = ruleOf(alert.ruleId)?.notify?.webhook;
    if (current && alert.state === 'open') targets.set(alert.alertId, current);
    const target = current ?? targets.get(alert.alertId);
    if (alert.state === 'cleared') targets.delete(alert.alertId);
    return target;
  };

  function send(notification: Notification, target: WebhookTarget | undefined = targetOf(notification.alert)): void {
    if (target) webhook.notify(target, notification.alert, { repeat: notification.repeat });
  }

  const timer = setInterval(() => throttle.due(now()).forEach((notification) => send(notification)), options.tickMs ?? 1000);
  timer.unref();

  return {
    notify(transitions) {
      for (const alert of transitions) {
        const target = targetOf(alert);
        if (!target) continue;
        const notification = throttle.decide(alert, now());
        if (notification) send(notification, target);
      }
    },
    async close() {
      clearInterval(timer);
      await webhook.close();
    },
  };
}
