import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface DashboardToken {
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
    try {
      expected = Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
    } catch {
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
