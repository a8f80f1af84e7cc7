import { DOCUMENT_FORMATS, type DocumentFormat } from '../reading.js';
import type { StoredRegistration } from '../seams.js';
import { hashScheme } from './secrets.js';

/** Ids the registry accepts: also safe as an MQTT topic level and a Kafka key. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Version of the registration record on `{prefix}.devices` (docs/contracts.md §12). */
const RECORD_VERSION = 1;

export function encodeRegistration(registration: StoredRegistration): string {
  return JSON.stringify({ v: RECORD_VERSION, ...registration });
}

/**
 * A registration from its JSON (a `{prefix}.devices` record or one entry of devices.json), or why it cannot be one.
 * A registration this version cannot verify (unknown hash scheme, newer record version) is a problem, never a
 * device admitted on a guess.
 */
export function decodeRegistration(value: unknown): StoredRegistration | { problem: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'not a JSON object' };
  const record = value as Record<string, unknown>;
  if (record.v !== undefined && record.v !== RECORD_VERSION) return { problem: `record version ${String(record.v)}; this Sluice reads version ${RECORD_VERSION}` };
  if (typeof record.hash !== 'string' || hashScheme(record.hash) === undefined) return { problem: 'no secret hash of a known scheme (hmac-sha256, scrypt)' };
  if (typeof record.createdAt !== 'string') return { problem: 'no createdAt' };
  if (record.updatedAt !== undefined && typeof record.updatedAt !== 'string') return { problem: 'updatedAt is not a string' };
  if (record.format !== undefined && !(DOCUMENT_FORMATS as readonly unknown[]).includes(record.format)) return { problem: `unknown payload format ${JSON.stringify(record.format)}` };
  if (record.disabled !== undefined && typeof record.disabled !== 'boolean') return { problem: 'disabled is not a boolean' };
  return {
    hash: record.hash,
    createdAt: record.createdAt,
    ...(record.updatedAt !== undefined ? { updatedAt: record.updatedAt as string } : {}),
    ...(record.format !== undefined ? { format: record.format as DocumentFormat } : {}),
    ...(record.disabled === true ? { disabled: true } : {}),
  };
}

export function decodeRegistrationBytes(bytes: Buffer): StoredRegistration | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: 'not JSON' };
  }
  return decodeRegistration(parsed);
}
