import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, sluiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DeviceListing, DeviceRegistry, RegistryChange, StoredRegistration } from '../seams.js';
import { DEVICE_ID_PATTERN } from './record.js';
import { generateSecret, hashScheme, hashSecret, MIN_RANDOM_SECRET_BITS, verifyNothing, verifySecret } from './secrets.js';

/** Registrations changed at once: a value of undefined removes the device. */
export type RegistryChanges = ReadonlyMap<string, StoredRegistration | undefined>;

/**
 * Where a registry keeps its registrations: a file (./file-backing.ts) or a compacted Kafka topic
 * (./table-backing.ts). The registry logic above it (this file) is the same for both, so one contract suite tests
 * both (test/unit/registry/contract.ts).
 */
export interface RegistryBacking {
  readonly kind: DeviceRegistry['kind'];
  /** Reads everything (handing it to `apply`), resolves at the end as of the call, and keeps handing over changes. */
  open(apply: (changes: RegistryChanges) => void): Promise<void>;
  /** Stores the changes; they reach `apply` through the backing (and at once here, see createDeviceRegistry). */
  write(changes: RegistryChanges): Promise<void>;
  health(): { ready: boolean; note?: string };
  close(): Promise<void>;
}

/** Registrations written to the backing at once by `add` and `import`: a fleet of 100,000 is many writes. */
const WRITE_CHUNK = 1000;

export function createDeviceRegistry(backing: RegistryBacking, options: { logger?: Logger } = {}): DeviceRegistry {
  const devices = new Map<string, StoredRegistration>();
  const listeners = new Set<(change: RegistryChange) => void>();
  // A device's last proved secret as a digest over its hash, so a reconnect of a device with a chosen (scrypt)
  // secret costs no scrypt; a new hash (new secret) makes the digest stale by itself.
  const remembered = new Map<string, Buffer>();
  const digestOf = (hash: string, secret: string) => createHash('sha256').update(hash).update('\0').update(secret).digest();
  let opened: Promise<void> | undefined;

  function apply(changes: RegistryChanges): void {
    for (const [id, next] of changes) {
      const previous = devices.get(id);
      if (next) devices.set(id, next);
      else devices.delete(id);
      if (!next || next.hash !== previous?.hash) remembered.delete(id);
      const change: RegistryChange['change'] | undefined = previous && !next ? 'removed' : next?.disabled && !previous?.disabled ? 'disabled' : undefined;
      if (!change) continue;
      for (const listener of listeners) {
        try {
          listener({ deviceId: id, change });
        } catch (error) {
          options.logger?.error({ err: error, deviceId: id }, 'registry change listener failed');
        }
      }
    }
  }

  async function write(changes: RegistryChanges): Promise<void> {
    await backing.write(changes);
    // Read-your-writes in this process; the backing hands the same changes over again later, which changes nothing.
    apply(changes);
  }

  async function update(id: string, change: (registration: StoredRegistration) => StoredRegistration): Promise<boolean> {
    const current = devices.get(id);
    if (!current) return false;
    await write(new Map([[id, { ...change(current), updatedAt: new Date().toISOString() }]]));
    return true;
  }

  const listing = (id: string, registration: StoredRegistration): DeviceListing => ({
    id,
    createdAt: registration.createdAt,
    ...(registration.updatedAt ? { updatedAt: registration.updatedAt } : {}),
    ...(registration.format ? { format: registration.format } : {}),
    ...(registration.disabled ? { disabled: true } : {}),
    secretHash: hashScheme(registration.hash) ?? 'scrypt',
  });

  return {
    kind: backing.kind,
    open() {
      opened ??= backing.open(apply);
      return opened;
    },

    async add(ids, addOptions = {}) {
      for (const id of ids) {
        if (!DEVICE_ID_PATTERN.test(id)) throw sluiceError(ErrorCodes.DEVICE_ID_INVALID, `device id "${id}" must match ${DEVICE_ID_PATTERN.source}`);
      }
      const given = addOptions.secret;
      if (given?.origin === 'generated' && Buffer.byteLength(given.value) * 6 < MIN_RANDOM_SECRET_BITS) {
        // base64-ish text carries at most 6 bits a character: too short to be a strong random secret.
        throw sluiceError(ErrorCodes.REGISTRATION_INVALID, `a generated secret needs at least ${MIN_RANDOM_SECRET_BITS} bits`);
      }
      const created: { id: string; secret: string }[] = [];
      const now = new Date().toISOString();
      for (let start = 0; start < ids.length; start += WRITE_CHUNK) {
        const changes = new Map<string, StoredRegistration>();
        for (const id of ids.slice(start, start + WRITE_CHUNK)) {
          const secret = given?.value ?? generateSecret();
          const previous = devices.get(id);
          changes.set(id, {
            hash: await hashSecret(secret, given?.origin ?? 'generated'),
            createdAt: previous?.createdAt ?? now,
            updatedAt: now,
            ...(addOptions.format ? { format: addOptions.format } : {}),
          });
          created.push({ id, secret });
        }
        await write(changes);
        addOptions.onProgress?.(created.length);
      }
      return created;
    },

    async import(registrations) {
      const entries = Object.entries(registrations);
      for (const [id] of entries) {
        if (!DEVICE_ID_PATTERN.test(id)) throw sluiceError(ErrorCodes.DEVICE_ID_INVALID, `device id "${id}" must match ${DEVICE_ID_PATTERN.source}`);
      }
      for (let start = 0; start < entries.length; start += WRITE_CHUNK) await write(new Map(entries.slice(start, start + WRITE_CHUNK)));
      return entries.length;
    },

    async remove(id) {
      if (!devices.has(id)) return false;
      await write(new Map([[id, undefined]]));
      return true;
    },

    setFormat: (id, format) =>
      update(id, (registration) => {
        const { format: _previous, ...rest } = registration;
        return format ? { ...rest, format } : rest;
      }),

    setDisabled: (id, disabled) =>
      update(id, (registration) => {
        const { disabled: _previous, ...rest } = registration;
        return disabled ? { ...rest, disabled: true } : rest;
      }),

    list: () => [...devices].map(([id, registration]) => listing(id, registration)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),

    get(id) {
      const registration = devices.get(id);
      return registration && listing(id, registration);
    },

    verifyRemembered(id, secret) {
      const registration = devices.get(id);
      const known = remembered.get(id);
      return registration !== undefined && known !== undefined && timingSafeEqual(known, digestOf(registration.hash, secret));
    },

    async verify(id, secret) {
      const registration = devices.get(id);
      if (!registration) return verifyNothing(secret);
      const ok = await verifySecret(secret, registration.hash);
      // The registration may have changed while scrypt ran: remember the secret only against the hash it proved.
      if (ok && devices.get(id)?.hash === registration.hash) remembered.set(id, digestOf(registration.hash, secret));
      return ok;
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    health: () => backing.health(),
    close: () => backing.close(),
  };
}
