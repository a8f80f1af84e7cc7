import { readFile } from 'node:fs/promises';
import type { DeviceCredentials } from './fleet.js';

/** Reads the file `sluice devices add --out` writes: `{"<id>": {"secret": "…"}}`, in the file's order. */
export async function readCredentials(path: string): Promise<DeviceCredentials[]> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${path}: expected {"<device id>": {"secret": "…"}}`);
  }
  return Object.entries(parsed as Record<string, unknown>).map(([id, value]) => {
    const secret = (value as { secret?: unknown } | null)?.secret;
    if (typeof secret !== 'string') throw new Error(`${path}: device "${id}" has no "secret" string`);
    return { id, secret };
  });
}
