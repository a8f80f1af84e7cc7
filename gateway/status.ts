import type { Aedes } from 'aedes';
import { refusalOfError } from './refusals.js';
import { disconnectedCleanly, remoteAddressOf } from './aedes-internals.js';
import type { GatewayContext } from './context.js';
import type { ConnectStage } from './connect.js';
import type { PublishStage } from './publish.js';

export interface StatusTracker {
  /** Devices logged in now; counted here because aedes' own counter moves after our handlers run. */
  connectedDevices(): number;
}

/**
 * A device's status as it comes and goes: `online` with how it connected, `offline` with why — the refusal
 * reason and its detail when the gateway closed the connection — on `{prefix}.events` and the retained
 * `devices/{id}/status` topic; and the refusals aedes itself decides, given their reason.
 */
export function trackStatus(broker: Aedes, context: GatewayContext, stages: { connect: ConnectStage; publish: PublishStage }): StatusTracker {
  const { metrics, connections, closeReasons, log } = context;
  const ready = new Set<object>();

  broker.on('clientReady', (client) => {
    stages.connect.loggedIn(client);
    ready.add(client);
    metrics.mqttConnects.inc();
    metrics.mqttConnections.set(ready.size);
    const connection = connections.get(client);
    if (!connection) return;
    let sessions = context.sessionsOf.get(connection.deviceId);
    if (!sessions) context.sessionsOf.set(connection.deviceId, (sessions = new Set()));
    sessions.add(client);
    // The connection counts from its `online` (docs/contracts.md §7: connectedAt equals that event's ts).
    const ts = Date.now();
    connection.connectedAt = ts;
    context.emitEvent({ deviceId: connection.deviceId, type: 'online', reason: `connected over ${connection.via}`, ts, remoteAddress: connection.remoteAddress, session: connection.session, connectedAt: ts });
    context.publishStatus(connection.deviceId, 'online');
  });

  broker.on('keepaliveTimeout', (client) => context.closeFor(client, 'keepalive-timeout', `nothing received for 1.5 × the keepalive of ${context.requestedKeepalive.get(client)} s`));

  broker.on('clientDisconnect', (client) => {
    ready.delete(client);
    stages.publish.forget(client);
    metrics.mqttConnections.set(ready.size);
    const connection = connections.get(client);
    if (!connection) return;
    const sessions = context.sessionsOf.get(connection.deviceId);
    sessions?.delete(client);
    if (sessions?.size === 0) context.sessionsOf.delete(connection.deviceId);
    const refusal = closeReasons.get(client);
    const reason = refusal?.reason ?? (disconnectedCleanly(client) ? 'disconnect' : 'connection-lost');
    const { session, connectedAt } = connection;
    context.emitEvent({ deviceId: connection.deviceId, type: 'offline', reason, ts: Date.now(), remoteAddress: connection.remoteAddress, session, connectedAt, ...(refusal?.detail ? { detail: refusal.detail } : {}) });
    context.publishStatus(connection.deviceId, 'offline');
  });

  // A logged-in device's connection failed: say why, unless it was only the network.
  broker.on('clientError', (client, error) => {
    const reason = refusalOfError(error.message);
    if (reason) context.closeFor(client, reason, error.message);
    else log.debug({ clientId: client.id, err: error }, 'client error');
  });

  broker.on('connectionError', (client, error) => {
    if (!client || stages.connect.refusedAtConnect.has(client)) return;
    const reason = closeReasons.get(client)?.reason ?? refusalOfError(error.message);
    if (!reason) return log.debug({ remoteAddress: remoteAddressOf(client), err: error }, 'connection closed before login');
    metrics.mqttProtocolErrors.inc();
    if (!closeReasons.has(client)) context.closeFor(client, reason, error.message);
  });

  return { connectedDevices: () => ready.size };
}
