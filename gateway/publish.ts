import type { AedesOptions, Client } from 'aedes';

import { decidePublish, isTelemetryTopic } from './topics.js';
import { refusalOfTopic } from './refusals.js';
import { gateReads, readNextBatchIfIdle, shortCircuitPublish } from './aedes-internals.js';
import type { GatewayContext } from './context.js';
import { MAX_READINGS_PER_MESSAGE, processClock } from '../core/precise-clock.js';
import { createResendStamps } from './resend-stamps.js';

type AuthorizePublishHandler = NonNullable<AedesOptions['authorizePublish']>;

/**
 * Bounds of the resend stamps (./resend-stamps.ts): packet ids remembered per client (a device's window of
 * unacknowledged publishes) and clients remembered (the earliest seen forgotten first), about 10 MB at most (some 1 KiB of typed arrays per client).
 */
const RESEND_STAMPS = { maxPerClient: 16, maxClients: 10_000 };

/** How often paused clients are checked for room in the bridge, besides every acknowledgement. */
const RESUME_CHECK_MS = 20;

export interface PublishStage {
  authorizePublish: AuthorizePublishHandler;
  /** On CONNECT: the connection's reads go through the backpressure gate. */
  holdReads(client: Client): void;
  /** Once aedes is created: telemetry skips aedes' routing. */
  install(): void;
  forget(client: Client): void;
  /** Drops the receive stamps kept for a client's resends: its device was removed, it will not resend. */
  forgetResends(clientId: string): void;
  close(): void;
}

/**
 * PUBLISH from a device: topic checks and the ACL, then the bridge. A QoS 1 publish is acknowledged when the
 * bridge has its readings in Kafka; QoS 0 is best effort.
 *
 * Backpressure: while the bridge holds its maximum of unacknowledged readings, a client that publishes more is
 * not read from. aedes would otherwise keep reading and parsing, and the waiting publishes filled the heap of an
 * overloaded gateway. Paused, they wait in the socket and kernel buffers, which is TCP flow control back to the
 * device. Room is checked on every acknowledgement and on a short timer while anyone is paused; during a Kafka
 * outage they stay paused.
 */
export function createPublishStage(context: GatewayContext): PublishStage {
  const { bridge, metrics, connections, options, log } = context;
  const readsPaused = new Set<Client>();
  const resendStamps = createResendStamps(RESEND_STAMPS);
  let resumeTimer: NodeJS.Timeout | undefined;

  function pauseReadsWhileSaturated(client: Client): void {
    if (readsPaused.has(client) || !bridge.saturated()) return;
    readsPaused.add(client);
    metrics.mqttReadPauses.inc();
    metrics.mqttReadsPaused.set(readsPaused.size);
    resumeTimer ??= setInterval(resumeReadsIfRoom, RESUME_CHECK_MS);
  }

  function resumeReadsIfRoom(): void {
    if (readsPaused.size === 0 || bridge.saturated()) return;
    const clients = [...readsPaused];
    readsPaused.clear();
    metrics.mqttReadsPaused.set(0);
    clearInterval(resumeTimer);
    resumeTimer = undefined;
    // With publishes still in flight, their completion reads next; otherwise nothing would, so read now.
    for (const client of clients) readNextBatchIfIdle(client);
  }

  return {
    holdReads: (client) => void gateReads(client, () => readsPaused.has(client)),
    // Telemetry goes to Kafka, never to MQTT subscribers (the ACL lets no client subscribe to it), so aedes'
    // routing of it would be pure cost. Status and will messages keep the full route for subscribers.
    install: () => shortCircuitPublish(context.broker, (packet) => isTelemetryTopic(packet.topic)),
    forget(client) {
      if (readsPaused.delete(client)) metrics.mqttReadsPaused.set(readsPaused.size);
    },
    forgetResends: (clientId) => resendStamps.forgetClient(clientId),
    close: () => clearInterval(resumeTimer),

    authorizePublish(client, packet, callback) {
      // The broker's own publishes (retained status) have no client and are trusted.
      if (!client) return callback(null);
      const connection = connections.get(client);
      if (!connection) return callback(new Error('not authenticated'));
      const { deviceId } = connection;
      const receivedAt = Date.now();
      metrics.mqttPublishes.inc({ qos: String(packet.qos) });
      const badTopic = refusalOfTopic(packet.topic, options);
      if (badTopic) {
        context.closeFor(client, badTopic.reason, badTopic.detail);
        return callback(new Error(badTopic.detail));
      }
      const decision = decidePublish(deviceId, packet.topic);
      if (!decision.allowed) {
        refuseByAcl(context, client, 'publish', packet.topic, decision.reason);
        // An error here makes aedes close the connection: MQTT 3.1.1 has no way to refuse one PUBLISH.
        return callback(new Error(decision.reason));
      }
      if (decision.kind === 'status') return callback(null);
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      // Taken here, once per publish, so every reading of it without a device time has its own point (issue 24);
      // a DUP resend of a publish this process already stamped reuses that stamp, so it stores the same points.
      const receivedAtNs = resendStamps.stampOf(
        { clientId: client.id, messageId: packet.messageId, dup: packet.dup, qos: packet.qos, topic: packet.topic, payload },
        () => processClock.next(MAX_READINGS_PER_MESSAGE),
      );
      // A registered format replaces content detection on the plain telemetry topic only: metric topics
      // carry plain values and `/$format` suffixes are the device's explicit choice.
      const format = connection.format && packet.topic === `devices/${deviceId}/telemetry` ? connection.format : undefined;
      const input = { deviceId, topic: packet.topic, payload, receivedAt, receivedAtNs, ...(format ? { format } : {}) };
      if (packet.qos === 0) {
        // Best effort: never hold the connection for QoS 0, and count what cannot be taken.
        const dropped = (why: string) => {
          metrics.qos0Dropped.inc();
          context.countRefusal('qos0-dropped', { deviceId, remoteAddress: connection.remoteAddress });
          context.reportToDevice(deviceId, 'qos0-dropped', `a QoS 0 publish on ${packet.topic} was dropped: ${why}`, connection.remoteAddress);
        };
        if (bridge.saturated()) {
          dropped('the bridge holds its maximum of unacknowledged readings');
          return callback(null);
        }
        bridge.ingest(input).catch(() => dropped('the bridge could not queue it'));
        return callback(null);
      }
      bridge.ingest(input).then(
        () => {
          metrics.ackLatency.observe((Date.now() - receivedAt) / 1000);
          resumeReadsIfRoom();
          callback(null);
        },
        (error: unknown) => {
          log.error({ err: error, deviceId }, 'publish not stored; closing the connection so the device sends it again');
          context.closeFor(client, 'ingest-failed', error instanceof Error ? error.message : String(error));
          resumeReadsIfRoom();
          callback(error as Error);
        },
      );
      pauseReadsWhileSaturated(client);
    },
  };
}

/** A publish or subscription outside the device's own topics: counted, closed, and in its activity. */
export function refuseByAcl(context: GatewayContext, client: Client, action: 'publish' | 'subscribe', topic: string, reason: string): void {
  const connection = context.connections.get(client);
  context.metrics.aclViolations.inc({ action });
  context.closeFor(client, 'acl-violation', `${action} on ${topic}: ${reason}`);
  if (connection) {
    context.emitEvent({ deviceId: connection.deviceId, type: 'acl-violation', reason: `${action} on ${topic}: ${reason}`, ts: Date.now(), remoteAddress: connection.remoteAddress });
  }
}
