import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { AlertTransition } from '../core/alerts.js';
import { encodeAlert } from '../core/records.js';
import type { StreamProducer } from '../core/seams.js';

export interface AlertOutbox {
  /** Resolves once the transitions are in the alerts stream; sends keep their order, failed ones are retried. */
  send(transitions: readonly AlertTransition[]): Promise<void>;
  close(): void;
}

/**
 * Alert transitions on their way to `{prefix}.alerts`, in order, each send retried until the queue takes it (an
 * outage holds the rules stage's batches, and with them its offsets, rather than dropping an alert). `onSent` sees
 * each transition once the queue has it: notifications never announce an alert the stream does not hold.
 */
export function createAlertOutbox(
  deps: { producer: StreamProducer; logger: Logger; metrics: Metrics; onSent: (transitions: readonly AlertTransition[]) => void },
  retryDelayMs = 500,
): AlertOutbox {
  const log = deps.logger.child({ module: 'rules-alerts' });
  let tail: Promise<void> = Promise.resolve();
  let closed = false;

  async function deliver(transitions: readonly AlertTransition[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await deps.producer.send('alerts', transitions.map(encodeAlert));
        break;
      } catch (error) {
        if (closed) throw error;
        if (attempt === 1 || attempt % 20 === 0) log.warn({ err: error, transitions: transitions.length, attempt }, 'alerts not written yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
      }
    }
    for (const t of transitions) deps.metrics.alertTransitions.inc({ rule: t.ruleId, severity: t.severity, transition: t.transition });
    deps.onSent(transitions);
  }

  return {
    send(transitions) {
      if (transitions.length === 0) return tail;
      const sent = tail.then(() => deliver(transitions));
      tail = sent.catch(() => undefined);
      return sent;
    },
    close() {
      closed = true;
    },
  };
}
