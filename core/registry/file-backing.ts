import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCodes, sluiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StoredRegistration } from '../seams.js';
import { decodeRegistration } from './record.js';
import type { RegistryBacking, RegistryChanges } from './registry.js';

/** How often a following registry looks at the file's mtime: another process's change shows within this. */
export const FILE_POLL_MS = 250;

export function registryPath(dataDir: string): string {
  return join(dataDir, 'devices.json');
}

interface RegistryFile {
  version: 1;
  devices: Record<string, StoredRegistration>;
}

/**
 * The embedded mode's registry (docs/contracts.md §12): `DATA_DIR/devices.json`, written whole (write, then rename)
 * by `sluice devices`, and watched by a running gateway, which sees a change within FILE_POLL_MS.
 */
export function fileRegistryBacking(dataDir: string, options: { logger?: Logger; pollMs?: number } = {}): RegistryBacking {
  const path = registryPath(dataDir);
  const log = options.logger?.child({ module: 'registry' });
  let known = new Map<string, string>();
  let seenMtimeMs: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let problem: string | undefined;

  /** The file as it is now; a device entry that does not parse is left out (it cannot be verified). */
  async function read(): Promise<{ mtimeMs: number | undefined; devices: Map<string, StoredRegistration> }> {
    const mtimeMs = await stat(path).then((stats) => stats.mtimeMs, () => undefined);
    const devices = new Map<string, StoredRegistration>();
    if (mtimeMs === undefined) return { mtimeMs, devices };
    let file: unknown;
    try {
      file = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw sluiceError(ErrorCodes.REGISTRY_UNAVAILABLE, `${path} is not JSON: fix or remove it`, { cause: error });
    }
    const entries = (file as Partial<RegistryFile> | null)?.devices;
    if (typeof entries !== 'object' || entries === null) throw sluiceError(ErrorCodes.REGISTRY_UNAVAILABLE, `${path} has no "devices" object`);
    for (const [id, value] of Object.entries(entries)) {
      const registration = decodeRegistration(value);
      if ('problem' in registration) log?.error({ deviceId: id, problem: registration.problem, path }, 'registration skipped: this device cannot log in until it is registered again');
      else devices.set(id, registration);
    }
    return { mtimeMs, devices };
  }

  /** What changed since the last look, as registry changes. */
  function diff(devices: ReadonlyMap<string, StoredRegistration>): RegistryChanges {
    const changes = new Map<string, StoredRegistration | undefined>();
    const next = new Map<string, string>();
    for (const [id, registration] of devices) {
      const text = JSON.stringify(registration);
      next.set(id, text);
      if (known.get(id) !== text) changes.set(id, registration);
    }
    for (const id of known.keys()) if (!next.has(id)) changes.set(id, undefined);
    known = next;
    return changes;
  }

  return {
    kind: 'file',
    async open(apply) {
      const first = await read();
      seenMtimeMs = first.mtimeMs;
      apply(diff(first.devices));
      const poll = async () => {
        try {
          const mtimeMs = await stat(path).then((stats) => stats.mtimeMs, () => undefined);
          if (mtimeMs !== seenMtimeMs) {
            const now = await read();
            seenMtimeMs = now.mtimeMs;
            apply(diff(now.devices));
          }
          if (problem) log?.info({ path }, 'registry file readable again');
          problem = undefined;
        } catch (error) {
          // Keep serving what was last read: a half-edited file must not log every device out.
          if (!problem) log?.error({ err: error }, 'registry file unreadable; the last good registrations stay in force');
          problem = (error as Error).message;
        }
        timer = setTimeout(() => void poll(), options.pollMs ?? FILE_POLL_MS);
        timer.unref();
      };
      timer = setTimeout(() => void poll(), options.pollMs ?? FILE_POLL_MS);
      timer.unref();
    },

    async write(changes) {
      // Read afresh: another `sluice devices` may have written since this process last looked.
      const { devices } = await read();
      for (const [id, registration] of changes) {
        if (registration) devices.set(id, registration);
        else devices.delete(id);
      }
      await mkdir(dirname(path), { recursive: true });
      const file: RegistryFile = { version: 1, devices: Object.fromEntries(devices) };
      // Write-then-rename: a gateway reading concurrently sees the old or the new file, never half of one.
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(file, null, 2), { mode: 0o600 });
      await rename(temporary, path);
    },

    health: () => (problem ? { ready: true, note: `${path} unreadable (${problem}); the last good registrations stay in force` } : { ready: true }),

    async close() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
