import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, sluiceError } from '../core/errors.js';

export interface DashboardToken {
  /**
   * Whether `candidate` is the token. Constant-time: both sides are SHA-256 digests of 32 bytes compared
   * with `timingSafeEqual`, so neither the comparison nor an early length mismatch tells how much of a guess
   * was right; hashing takes time by the candidate's length only, which its sender knows already.
   */
  check(candidate: string | undefined): boolean;
  /** Set only when the token was generated in this start: the one chance to show it. */
  generated?: string;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * `DASHBOARD_TOKEN` when set; otherwise a random token made on first start and kept only as a hash in
 * `DATA_DIR/dashboard-token.sha256`. The token is long and random, so a fast hash is enough here.
 */
export async function loadDashboardToken(dataDir: string, configured: string | undefined): Promise<DashboardToken> {
  let expected: Buffer;
  let generated: string | undefined;
  if (configured) {
    expected = digest(configured);
  } else {
    const path = join(dataDir, 'dashboard-token.sha256');
    let stored: string | undefined;
    try {
      stored = (await readFile(path, 'utf8')).trim();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (stored !== undefined) {
      // A damaged file would otherwise make every check throw (timingSafeEqual wants equal lengths).
      if (!/^[0-9a-f]{64}$/i.test(stored)) {
        throw sluiceError(ErrorCodes.DASHBOARD_TOKEN_INVALID, `${path} does not hold a SHA-256 digest in hex: delete it to have a new token generated, or set DASHBOARD_TOKEN`, {
          details: { path },
        });
      }
      expected = Buffer.from(stored, 'hex');
    } else {
      generated = randomBytes(24).toString('base64url');
      expected = digest(generated);
      await mkdir(dataDir, { recursive: true });
      await writeFile(path, `${expected.toString('hex')}\n`, { mode: 0o600 });
    }
  }
  return {
    check(candidate) {
      if (!candidate) return false;
      return timingSafeEqual(digest(candidate), expected);
    },
    ...(generated ? { generated } : {}),
  };
}
