import { readFile } from 'node:fs/promises';
import { ErrorCodes, sluiceError } from '../core/errors.js';
import type { DeviceCredentials } from './fleet.js';

/** Reads the file `sluice devices add --out` writes: `{"<id>": {"secret": "…"}}`, in the file's order. */
export async function readCredentials(path: string): Promise<DeviceCredentials[]> {
  const text = await readFile(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw sluiceError(ErrorCodes.CREDENTIALS_INVALID, `${path}: not JSON (${(error as Error).message})`, { cause: error, details: { path } });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw sluiceError(ErrorCodes.CREDENTIALS_INVALID, `${path}: expected {"<device id>": {"secret": "…"}}`, { details: { path } });
  }
  return Object.entries(parsed as Record<string, unknown>).map(([id, value]) => {
    const secret = (value as { secret?: unknown } | null)?.secret;
    if (typeof secret !== 'string') throw sluiceError(ErrorCodes.CREDENTIALS_INVALID, `${path}: device "${id}" has no "secret" string`, { details: { path, deviceId: id } });
    return { id, secret };
  });
}
