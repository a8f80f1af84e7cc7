import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCodes, sluiceError } from '../core/errors.js';
import type { DocumentFormat } from '../core/reading.js';

const scrypt = (secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    scryptCallback(secret, salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key))),
  );

/**
 * scrypt cost: tens of milliseconds per check, so guessing secrets is slow work while a fleet of
 * thousands can still connect in reasonable time (successful checks are cached, see `verify`).
 */
const SCRYPT = { N: 2 ** 14, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 };
/** How long one stat of the registry file answers for: changes by another process show within this. */
const STAT_REUSE_MS = 250;
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

interface StoredDevice {
  hash: string;
  createdAt: string;
  /** Payload format forced for `devices/{id}/telemetry`; absent = detected from the content. */
  format?: DeviceFormat;
}

/** One of DOCUMENT_FORMATS (core/reading.ts). */
export type DeviceFormat = DocumentFormat;

interface RegistryFile {
  version: 1;
  devices: Record<string, StoredDevice>;
}

export interface DeviceRegistry {
  /**
   * Creates the devices with fresh secrets; the secrets are returned once and never stored. `sharedSecret` gives
   * every device that one secret, hashed once: for load tests (`sluice bench`), where thousands of scrypt hashes
   * would take minutes and the secrets protect nothing.
   */
  add(ids: string[], options?: { format?: DeviceFormat; sharedSecret?: string; onProgress?: (done: number) => void }): Promise<{ id: string; secret: string }[]>;
  remove(id: string): Promise<boolean>;
  list(): Promise<{ id: string; createdAt: string; format?: DeviceFormat }[]>;
  /** Sets (or with `undefined` clears) the forced payload format; false when the device is unknown. */
  setFormat(id: string, format: DeviceFormat | undefined): Promise<boolean>;
  formatOf(id: string): Promise<DeviceFormat | undefined>;
  verify(id: string, secret: string): Promise<boolean>;
  /**
   * True when the secret is the one this device last proved (a fast digest, no scrypt); false means
   * "not known", not "wrong": `verify` decides then.
   */
  verifyRemembered(id: string, secret: string): Promise<boolean>;
  has(id: string): Promise<boolean>;
}

export function registryPath(dataDir: string): string {
  return join(dataDir, 'devices.json');
}

/**
 * Devices and their secret hashes in `DATA_DIR/devices.json`. The file is re-read when its mtime
 * changes, so a running gateway sees `sluice devices add/remove` without a restart.
 */
export function createDeviceRegistry(dataDir: string): DeviceRegistry {
  const path = registryPath(dataDir);
  let cached: { mtimeMs: number; file: RegistryFile } | undefined;
  // Reconnects are frequent (flaky radio links); remembering the last good secret per device as a
  // fast digest spares a full scrypt each time. Dropped whenever the registry file changes.
  let verifiedDigests = new Map<string, Buffer>();

  // One stat answers every login for a short while: a storm of CONNECTs must not become a storm of stats
  // queued in libuv's thread pool next to the scrypt checks.
  let statted: { at: number; mtimeMs: Promise<number | undefined> } | undefined;
  const mtimeOf = (): Promise<number | undefined> => {
    const at = Date.now();
    if (!statted || at - statted.at >= STAT_REUSE_MS) {
      statted = { at, mtimeMs: stat(path).then((stats) => stats.mtimeMs, () => undefined) };
    }
    return statted.mtimeMs;
  };

  async function load(): Promise<RegistryFile> {
    const mtimeMs = await mtimeOf();
    if (mtimeMs === undefined) return { version: 1, devices: {} };
    if (cached && cached.mtimeMs === mtimeMs) return cached.file;
    const file = JSON.parse(await readFile(path, 'utf8')) as RegistryFile;
    cached = { mtimeMs, file };
    verifiedDigests = new Map();
    return file;
  }

  async function save(file: RegistryFile): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    // Write-then-rename: a gateway reading concurrently sees the old or the new file, never half of one.
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(file, null, 2), { mode: 0o600 });
    await rename(temporary, path);
    cached = undefined;
    statted = undefined;
  }

  return {
    async add(ids, addOptions = {}) {
      const file = await load();
      for (const id of ids) {
        if (!DEVICE_ID_PATTERN.test(id)) {
          throw sluiceError(ErrorCodes.DEVICE_ID_INVALID, `device id "${id}" must match ${DEVICE_ID_PATTERN.source}`);
        }
      }
      const created: { id: string; secret: string }[] = [];
      const shared = addOptions.sharedSecret === undefined ? undefined : { secret: addOptions.sharedSecret, hash: await hashSecret(addOptions.sharedSecret) };
      for (const id of ids) {
        const secret = shared?.secret ?? randomBytes(18).toString('base64url');
        file.devices[id] = {
          hash: shared?.hash ?? (await hashSecret(secret)),
          createdAt: new Date().toISOString(),
          ...(addOptions.format ? { format: addOptions.format } : {}),
        };
        created.push({ id, secret });
        addOptions.onProgress?.(created.length);
      }
      await save(file);
      return created;
    },
    async remove(id) {
      const file = await load();
      if (!(id in file.devices)) return false;
      delete file.devices[id];
      await save(file);
      return true;
    },
    async list() {
      const file = await load();
      return Object.entries(file.devices)
        .map(([id, device]) => ({ id, createdAt: device.createdAt, ...(device.format ? { format: device.format } : {}) }))
        .sort((a, b) => a.id.localeCompare(b.id));
    },
    async setFormat(id, format) {
      const file = await load();
      const device = file.devices[id];
      if (!device) return false;
      if (format) device.format = format;
      else delete device.format;
      await save(file);
      return true;
    },
    async formatOf(id) {
      return (await load()).devices[id]?.format;
    },
    async has(id) {
      return id in (await load()).devices;
    },
    async verifyRemembered(id, secret) {
      const device = (await load()).devices[id];
      const known = verifiedDigests.get(id);
      if (!device || !known) return false;
      return timingSafeEqual(known, createHash('sha256').update(device.hash).update('\0').update(secret).digest());
    },
    async verify(id, secret) {
      const device = (await load()).devices[id];
      if (!device) {
        // Same work for unknown ids, so timing does not tell which ids exist.
        await hashSecret(secret);
        return false;
      }
      const digest = createHash('sha256').update(device.hash).update('\0').update(secret).digest();
      const known = verifiedDigests.get(id);
      if (known && timingSafeEqual(known, digest)) return true;
      const ok = await verifySecret(secret, device.hash);
      if (ok) verifiedDigests.set(id, digest);
      return ok;
    },
  };
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, SCRYPT.keylen, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(secret, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return timingSafeEqual(actual, expected);
}
