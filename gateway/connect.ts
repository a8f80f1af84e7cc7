import type { Socket } from 'node:net';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';

import { addressKey } from '../core/client-address.js';
import { createAuthGate, type GateResult } from './auth-gate.js';
import { clientWithId, isClosed, limitPacketSize, remoteAddressOf } from './aedes-internals.js';
import { clientCertificateId, transportOf, type GatewayContext } from './context.js';
import { createLogLimiter, REFUSALS, type RefusalReason } from './refusals.js';

type AuthenticateHandler = NonNullable<AedesOptions['authenticate']>;

// MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2-3].
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** An `auth-failures` event for a device id at most this often. */
const AUTH_BURST_REPORT_MS = 60_000;

export interface ConnectStage {
  /** Every connection passes here before its first byte is read. */
  accept(socket: Socket | NodeJS.ReadWriteStream, peerAddress: string, handle: () => Client): void;
  authenticate: AuthenticateHandler;
  /** The client logged in: it no longer counts against the caps on connections waiting to. */
  loggedIn(client: Client): void;
  /** Connections answered with a CONNACK refusal: already counted when refused. */
  refusedAtConnect: WeakSet<Client>;
  /** Failed logins another gateway checked, spending this gateway's budget for the id too (gateway/fleet.ts). */
  chargeElsewhere(deviceId: string, failures: number): void;
}

export function createConnectStage(context: GatewayContext): ConnectStage {
  const { options, registry, metrics, connections, log } = context;
  const gate = createAuthGate(options.auth);
  const burstLimiter = createLogLimiter(AUTH_BURST_REPORT_MS);
  const unauthenticated = { total: 0, byAddress: new Map<string, number>() };
  const releases = new WeakMap<Client, () => void>();
  const refusedAtConnect = new WeakSet<Client>();
  let sessions = 0;

  const publishGateStats = () => {
    const stats = gate.stats();
    metrics.mqttAuthChecksRunning.set(stats.running);
    metrics.mqttAuthQueued.set(stats.queued);
  };

  /**
   * A refused login for an id in the registry goes to that device's activity (at most one entry per reason
   * every REFUSAL_REPORT_MS) and its failure metric; a burst that spends its budget raises `auth-failures`.
   * Ids that are not registered are only counted: anyone can make those up.
   */
  function reportLoginRefusal(deviceId: string, reason: RefusalReason, detail: string | undefined, remoteAddress: string): void {
    if (!registry.get(deviceId)) return;
    if (reason === 'bad-credentials' || reason === 'auth-throttled') metrics.mqttDeviceAuthFailures.inc({ device: deviceId });
    const failed = (count: number, more = '') =>
      context.emitEvent({ deviceId, type: 'auth-failed', reason, detail: `${detail ?? REFUSALS[reason].what}${more}`, ts: Date.now(), remoteAddress, count });
    // A checked wrong secret is reported at once: the other gateways charge it to the id's budget (gateway/fleet.ts).
    // The budget itself bounds how many there are; the other refusals cost nothing to make and are rate-limited.
    if (reason === 'bad-credentials') failed(1);
    else context.limitActivity(`${deviceId}\u0000login\u0000${reason}`, (suppressed) => failed(1 + suppressed, suppressed > 0 ? ` (and ${suppressed} more since the last entry)` : ''));
    const failures = Math.round(gate.failuresOf(deviceId));
    if (failures < options.auth.budget) return;
    burstLimiter(deviceId, () =>
      context.emitEvent({
        deviceId,
        type: 'auth-failures',
        reason: 'login-budget-spent',
        detail: `${failures} failed logins for this id recently (last from ${remoteAddress}); further logins are refused until they are forgiven, one every ${options.auth.refillMs / 1000} s`,
        ts: Date.now(),
        remoteAddress,
      }),
    );
  }

  return {
    refusedAtConnect,
    loggedIn: (client) => releases.get(client)?.(),
    chargeElsewhere: (deviceId, failures) => gate.chargeElsewhere(deviceId, failures),

    accept(socket, peerAddress, handle) {
      // An IPv6 host owns its /64: the caps count it as one address.
      const remoteAddress = addressKey(peerAddress);
      const fromAddress = unauthenticated.byAddress.get(remoteAddress) ?? 0;
      const capped: RefusalReason | undefined =
        unauthenticated.total >= options.maxUnauthenticated ? 'unauthenticated-cap' : fromAddress >= options.maxUnauthenticatedPerAddress ? 'unauthenticated-cap-address' : undefined;
      if (capped) {
        context.countRefusal(capped, { remoteAddress });
        (socket as Socket).destroy();
        return;
      }
      unauthenticated.total++;
      unauthenticated.byAddress.set(remoteAddress, fromAddress + 1);
      metrics.mqttUnauthenticated.set(unauthenticated.total);
      let counted = true;
      const release = () => {
        if (!counted) return;
        counted = false;
        unauthenticated.total--;
        const left = (unauthenticated.byAddress.get(remoteAddress) ?? 1) - 1;
        if (left > 0) unauthenticated.byAddress.set(remoteAddress, left);
        else unauthenticated.byAddress.delete(remoteAddress);
        metrics.mqttUnauthenticated.set(unauthenticated.total);
      };
      socket.once('close', release);
      const client = handle();
      releases.set(client, release);
      const limited = limitPacketSize(
        client,
        () => (connections.has(client) ? options.maxPacketBytes : options.maxConnectBytes),
        (length, limit) => {
          if (connections.has(client)) metrics.mqttOversizedPackets.inc();
          context.closeFor(client, connections.has(client) ? 'packet-too-large' : 'connect-too-large', `a packet of ${length} bytes; the limit is ${limit}`);
        },
      );
      if (!limited) log.error('aedes client has no mqtt-packet parser to limit: packet sizes are not bounded (aedes changed shape?)');
    },

    authenticate(client, username, password, done) {
      const remoteAddress = remoteAddressOf(client);
      const refuse = (code: number, reason: RefusalReason, detail?: string): void => {
        metrics.mqttAuthFailures.inc({ reason });
        refusedAtConnect.add(client);
        context.countRefusal(reason, { ...(username ? { deviceId: username } : {}), remoteAddress, ...(detail ? { detail } : {}) });
        if (username && (code !== SERVER_UNAVAILABLE || reason === 'auth-throttled')) reportLoginRefusal(username, reason, detail, remoteAddress);
        const error = new Error(detail ?? REFUSALS[reason].what) as AuthenticateError;
        (error as { returnCode: number }).returnCode = code;
        done(error, false);
      };
      if (context.broker.connectedClients >= options.maxConnections) {
        return refuse(SERVER_UNAVAILABLE, 'max-connections', `the gateway holds its maximum of ${options.maxConnections} connections`);
      }
      const keepalive = context.requestedKeepalive.get(client) ?? 0;
      if (keepalive < 1 || keepalive > options.maxKeepaliveS) {
        return refuse(NOT_AUTHORIZED, 'keepalive-out-of-bounds', `keepalive ${keepalive} s is outside 1..${options.maxKeepaliveS} s`);
      }
      const certificateId = clientCertificateId(client);
      const claimedId = certificateId ?? username;
      if (!claimedId || (certificateId === undefined && !password)) return refuse(NOT_AUTHORIZED, 'missing-credentials');
      if (certificateId !== undefined && username && username !== certificateId) return refuse(NOT_AUTHORIZED, 'certificate-username-mismatch');
      const secret = password?.toString('utf8') ?? '';
      let verdict: { deviceId: string } | { code: number; reason: RefusalReason } | undefined;
      const check = async (): Promise<boolean> => {
        // A certificate our CA signed names the device; the registry still decides whether it may connect.
        if (certificateId !== undefined) {
          verdict = registry.get(certificateId) ? { deviceId: certificateId } : { code: NOT_AUTHORIZED, reason: 'unknown-certificate-device' };
        } else {
          verdict = (await registry.verify(claimedId, secret)) ? { deviceId: claimedId } : { code: BAD_USERNAME_OR_PASSWORD, reason: 'bad-credentials' };
        }
        metrics.mqttAuthChecks.inc({ outcome: 'deviceId' in verdict ? 'succeeded' : 'failed' });
        return 'deviceId' in verdict;
      };
      // A device proving the secret it proved before needs no scrypt, so no check slot and no budget:
      // reconnects and a device whose id is under attack are not held behind a storm of guesses.
      const remembered = certificateId === undefined && registry.verifyRemembered(claimedId, secret);
      const admitted = Promise.resolve().then((): Promise<GateResult> | GateResult => {
        if (!remembered) return gate.run({ address: addressKey(remoteAddress), deviceId: claimedId, gone: () => isClosed(client) }, check);
        verdict = { deviceId: claimedId };
        metrics.mqttAuthChecks.inc({ outcome: 'remembered' });
        return { outcome: 'succeeded' };
      });
      publishGateStats();
      admitted
        .then(async (result) => {
          publishGateStats();
          if ('abandoned' in result) return;
          if ('refused' in result) {
            const seconds = Math.ceil(result.retryAfterMs / 1000);
            return refuse(SERVER_UNAVAILABLE, result.refused, result.refused === 'auth-throttled' ? `too many failed logins; the next is checked in ${seconds} s` : `the login queue holds ${options.auth.maxQueued}`);
          }
          if (!verdict || 'code' in verdict) return refuse(verdict?.code ?? BAD_USERNAME_OR_PASSWORD, verdict && 'reason' in verdict ? verdict.reason : 'bad-credentials');
          const deviceId = verdict.deviceId;
          // Read now, not before the check: a removal or disabling while scrypt ran must not let the device in.
          const registration = registry.get(deviceId);
          if (!registration) return refuse(BAD_USERNAME_OR_PASSWORD, 'bad-credentials');
          if (registration.disabled) return refuse(NOT_AUTHORIZED, 'device-disabled');
          const format = registration.format;
          connections.set(client, { deviceId, remoteAddress, via: transportOf(client), session: `${context.gatewayId}#${++sessions}`, connectedAt: Date.now(), ...(format ? { format } : {}) });
          // [MQTT-3.1.4-2]: a second connection with this client id replaces the first; remember why it goes.
          const previous = clientWithId(context.broker, client.id);
          if (previous && previous !== client) context.closeFor(previous, 'takeover', `a new connection from ${remoteAddress} took client id ${client.id}`);
          // One session per device (docs/contracts.md §4): an older connection of this device with another client id
          // goes too. Other gateways close theirs when they read this login's `online` event (gateway/fleet.ts).
          for (const older of context.sessionsOf.get(deviceId) ?? []) {
            if (older === previous || older === client) continue;
            context.closeFor(older, 'takeover', `a new connection of ${deviceId} from ${remoteAddress} (client id ${client.id})`);
            older.close();
          }
          done(null, true);
        })
        .catch((error: unknown) => {
          publishGateStats();
          log.error({ err: error }, 'device registry unreadable');
          refuse(SERVER_UNAVAILABLE, 'registry-unavailable');
        });
    },
  };
}
