import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { followFleet } from '../../../gateway/fleet.js';
import type { GatewayContext, Connection } from '../../../gateway/context.js';
import type { ConnectStage } from '../../../gateway/connect.js';
import type { PublishStage } from '../../../gateway/publish.js';
import type { DeviceEvent } from '../../../core/reading.js';
import type { DeviceRegistry, RegistryChange } from '../../../core/seams.js';
import { encodeEvent } from '../../../core/records.js';
import { createEmbeddedBus } from '../../../core/streams/embedded.js';
import { createLogger } from '../../../core/logger.js';

/** One gateway's view: its sessions, and what the follower closed and charged. */
function gatewayHarness(gatewayId: string) {
  const connections = new WeakMap<Client, Connection>();
  const sessionsOf = new Map<string, Set<Client>>();
  const closed: { session: string; reason: string }[] = [];
  const charged: { deviceId: string; failures: number }[] = [];
  const forgotten: string[] = [];
  let registryListener: ((change: RegistryChange) => void) | undefined;
  let sessions = 0;
  const open = (deviceId: string): { client: Client; session: string } => {
    const session = `${gatewayId}#${++sessions}`;
    const client = {
      id: `${deviceId}-${session}`,
      close: () => {
        sessionsOf.get(deviceId)?.delete(client);
      },
    } as unknown as Client;
    connections.set(client, { deviceId, session, connectedAt: Date.now(), remoteAddress: '10.0.0.1', via: 'tcp' });
    if (!sessionsOf.has(deviceId)) sessionsOf.set(deviceId, new Set());
    sessionsOf.get(deviceId)!.add(client);
    return { client, session };
  };
  const context = {
    gatewayId,
    connections,
    sessionsOf,
    log: createLogger('silent'),
    registry: { onChange: (listener: (change: RegistryChange) => void) => ((registryListener = listener), () => undefined) } as unknown as DeviceRegistry,
    closeFor: (client: Client, reason: string) => closed.push({ session: connections.get(client)!.session, reason }),
  } as unknown as GatewayContext;
  const stages = {
    connect: { chargeElsewhere: (deviceId: string, failures: number) => charged.push({ deviceId, failures }) } as unknown as ConnectStage,
    publish: { forgetResends: (clientId: string) => forgotten.push(clientId) } as unknown as PublishStage,
  };
  return { context, stages, open, closed, charged, forgotten, registryChange: (change: RegistryChange) => registryListener?.(change) };
}

const online = (deviceId: string, session: string, gateway: string): DeviceEvent => ({ deviceId, type: 'online', reason: 'connected over tcp', ts: Date.now(), session, connectedAt: Date.now(), gateway });

describe('one fleet: what a gateway does with the events stream and the registry (gateway/fleet.ts)', () => {
  async function setUp() {
    const bus = createEmbeddedBus({ partitions: 3 });
    const producer = await bus.createProducer();
    const a = gatewayHarness('gw-a');
    const follower = followFleet(a.context, a.stages, bus.createConsumer({ streams: ['events'], from: 'earliest' }));
    await follower.start();
    const emit = (...events: DeviceEvent[]) => producer.send('events', events.map(encodeEvent));
    return { a, emit, close: async () => (await follower.close(), await bus.close()) };
  }

  it("closes a session whose own online it has read when a newer login of the device is read (takeover), and keeps the newer one", async () => {
    const { a, emit, close } = await setUp();
    const older = a.open('d1');
    await emit(online('d1', older.session, 'gw-a'), online('d1', 'gw-b#7', 'gw-b'));
    await expect.poll(() => a.closed).toEqual([{ session: older.session, reason: 'takeover' }]);
    await close();
  });

  it('keeps a session whose own online is not read yet: in the log it comes after the other login, so it is the newer', async () => {
    const { a, emit, close } = await setUp();
    // Logged in here while B's login was on its way: B's online is read first, then ours.
    const newer = a.open('d2');
    await emit(online('d2', 'gw-b#1', 'gw-b'), online('d2', newer.session, 'gw-a'));
    // The other gateway's login is older than ours in the log: ours stays (gateway B closes its own). A marker after
    // them (in the same partition: same device) tells when the follower has read them.
    await emit({ deviceId: 'd2', type: 'auth-failed', reason: 'bad-credentials', ts: Date.now(), count: 1, gateway: 'gw-b' });
    await expect.poll(() => a.charged).toEqual([{ deviceId: 'd2', failures: 1 }]);
    expect(a.closed).toEqual([]);
    await close();
  });

  it('two local sessions of one device (a race of two logins): the one announced last stays', async () => {
    const { a, emit, close } = await setUp();
    const first = a.open('d3');
    const second = a.open('d3');
    await emit(online('d3', first.session, 'gw-a'), online('d3', second.session, 'gw-a'));
    await expect.poll(() => a.closed).toEqual([{ session: first.session, reason: 'takeover' }]);
    await close();
  });

  it("charges other gateways' checked wrong secrets to its login budget, not its own or other refusals", async () => {
    const { a, emit, close } = await setUp();
    const failed = (gateway: string, reason: string): DeviceEvent => ({ deviceId: 'd4', type: 'auth-failed', reason, ts: Date.now(), count: 1, gateway });
    await emit(failed('gw-b', 'bad-credentials'), failed('gw-a', 'bad-credentials'), failed('gw-b', 'auth-throttled'), failed('gw-c', 'bad-credentials'));
    await expect.poll(() => a.charged).toEqual([
      { deviceId: 'd4', failures: 1 },
      { deviceId: 'd4', failures: 1 },
    ]);
    await close();
  });

  it('closes every session of a removed or disabled device, and forgets a removed one’s resend stamps', async () => {
    const { a, close } = await setUp();
    const removed = a.open('d5');
    const disabled = a.open('d6');
    a.registryChange({ deviceId: 'd5', change: 'removed' });
    a.registryChange({ deviceId: 'd6', change: 'disabled' });
    expect(a.closed).toEqual([
      { session: removed.session, reason: 'removed' },
      { session: disabled.session, reason: 'disabled' },
    ]);
    expect(a.forgotten).toEqual([removed.client.id]);
    await close();
  });
});
