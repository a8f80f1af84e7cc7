import { createHmac, randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Device secrets and how they are kept (docs/contracts.md §12). A secret Sluice generates is 144 random bits: nobody
 * can try a meaningful share of 2^144 candidates, so a salted HMAC-SHA-256 (microseconds) protects it as well as
 * scrypt would, and a fleet's reconnect storm after a gateway restart costs no scrypt at all. A secret a person chose
 * (`sluice devices add --secret`) may be guessable from a word list: it gets scrypt, which makes each guess cost tens
 * of milliseconds of memory-hard work.
 */

/** Bytes of a generated secret: 144 bits, printed as 24 base64url characters. */
export const GENERATED_SECRET_BYTES = 18;
/** Generated (or otherwise random) secrets shorter than this many bits are hashed with scrypt like chosen ones. */
export const MIN_RANDOM_SECRET_BITS = 128;

const SCRYPT = { N: 2 ** 14, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 };
const SALT_BYTES = 16;

export type SecretOrigin = 'generated' | 'chosen';

const scrypt = (secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCallback(secret, salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key))));

export function generateSecret(): string {
  return randomBytes(GENERATED_SECRET_BYTES).toString('base64url');
}

/** `hmac-sha256$salt$digest` for a random secret, `scrypt$N$r$p$salt$key` for a chosen one (all base64). */
export async function hashSecret(secret: string, origin: SecretOrigin): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  if (origin === 'generated') return ['hmac-sha256', salt.toString('base64'), hmac(salt, secret).toString('base64')].join('$');
  const key = await scrypt(secret, salt, SCRYPT.keylen, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** The scheme of a stored hash, or undefined when it is not one Sluice writes (the record is then unverifiable). */
export function hashScheme(stored: string): 'hmac-sha256' | 'scrypt' | undefined {
  const parts = stored.split('$');
  if (parts[0] === 'hmac-sha256' && parts.length === 3 && parts[1] && parts[2]) return 'hmac-sha256';
  if (parts[0] === 'scrypt' && parts.length === 6 && parts.slice(1).every((part) => part.length > 0)) return 'scrypt';
  return undefined;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  switch (hashScheme(stored)) {
    case 'hmac-sha256': {
      const expected = Buffer.from(parts[2]!, 'base64');
      const actual = hmac(Buffer.from(parts[1]!, 'base64'), secret);
      return expected.length === actual.length && timingSafeEqual(actual, expected);
    }
    case 'scrypt': {
      const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
      const expected = Buffer.from(key, 'base64');
      const actual = await scrypt(secret, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
      return timingSafeEqual(actual, expected);
    }
    default:
      return false;
  }
}

/**
 * The work of a check against nothing, for unknown ids: the common scheme's, so the answer's timing does not tell
 * whether an id is registered (a device with a chosen secret still differs: scrypt is slower).
 */
export function verifyNothing(secret: string): Promise<boolean> {
  hmac(randomBytes(SALT_BYTES), secret);
  return Promise.resolve(false);
}

function hmac(salt: Buffer, secret: string): Buffer {
  return createHmac('sha256', salt).update(secret, 'utf8').digest();
}
