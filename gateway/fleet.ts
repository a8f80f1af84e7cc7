import type { Client } from 'aedes';
import { decodeEvent } from '../core/records.js';
import type { RegistryChange, StreamConsumer } from '../core/seams.js';
import type { GatewayContext } from './context.js';
import type { ConnectStage } from './connect.js';
import type { PublishStage } from './publish.js';

export interface FleetFollower {
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What makes many gateway processes one edge (docs/contracts.md §4, "One fleet"): every gateway reads the events
 * stream from its end and
 * - keeps one session per device fleet-wide: a login's `online` event closes every older session of that device on
 *   every gateway (reason `takeover`). "Older" is the order of the events stream, where one device's events are
 *   in one partition: a session whose own `online` is already read is older than the one being read, whatever the
 *   gateways' clocks say; a session whose `online` is not read yet is newer and stays.
 * - charges failed logins another gateway checked to this gateway's login budget for the id;
 * and, from the registry, closes the sessions of a device that is removed or disabled.
 */
export function followFleet(context: GatewayContext, stages: { connect: ConnectStage; publish: PublishStage }, events: StreamConsumer): FleetFollower {
  const { connections, log } = context;
  // Sessions whose own `online` has been read back from the stream: from then on a newer login replaces them.
  const announced = new Set<string>();

  function closeSessions(deviceId: string, keep: (client: Client) => boolean, reason: 'takeover' | 'removed' | 'disabled', detail: string): void {
    for (const client of [...(context.sessionsOf.get(deviceId) ?? [])]) {
      if (keep(client)) continue;
      context.closeFor(client, reason, detail);
      client.close();
      // A removed device's client will not resend: its stamps would only take room from live clients.
      if (reason === 'removed') stages.publish.forgetResends(client.id);
    }
  }

  const unsubscribe = context.registry.onChange(({ deviceId, change }: RegistryChange) =>
    closeSessions(deviceId, () => false, change, change === 'removed' ? 'the device was removed from the registry' : 'the device was disabled in the registry'),
  );

  return {
    async start() {
      void events
        .run(async (batch) => {
          for (const record of batch.records) {
            const event = decodeEvent(record);
            if (!event) continue;
            if (event.type === 'online' && event.session) {
              const newest = event.session;
              const where = event.gateway === context.gatewayId ? 'this gateway' : `gateway ${event.gateway ?? '(unknown)'}`;
              closeSessions(
                event.deviceId,
                (client) => {
                  const session = connections.get(client)?.session;
                  return session === undefined || session === newest || !announced.has(session);
                },
                'takeover',
                `a newer connection of ${event.deviceId} on ${where}${event.remoteAddress ? ` from ${event.remoteAddress}` : ''}`,
              );
              if (event.gateway === context.gatewayId) announced.add(newest);
            } else if (event.type === 'offline' && event.session && event.gateway === context.gatewayId) {
              announced.delete(event.session);
            } else if (event.type === 'auth-failed' && event.reason === 'bad-credentials' && event.gateway !== context.gatewayId) {
              stages.connect.chargeElsewhere(event.deviceId, event.count ?? 1);
            }
          }
        })
        .catch((error: unknown) => log.error({ err: error }, 'fleet events reader stopped: takeovers across gateways and the shared login throttle are off'));
    },
    async close() {
      unsubscribe();
      await events.close();
    },
  };
}
