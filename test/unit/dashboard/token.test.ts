import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDashboardToken } from '../../../dashboard/token.js';

describe('dashboard token', () => {
  it('compares digests, so a candidate of any length is answered without throwing', async () => {
    const token = await loadDashboardToken(await mkdtemp(join(tmpdir(), 'sluice-token-')), 'the-configured-token');
    expect(token.check('the-configured-token')).toBe(true);
    for (const candidate of ['', 'x', 'the-configured-toke', 'the-configured-token ', 'x'.repeat(10_000), 'tökén', undefined]) {
      expect(token.check(candidate)).toBe(false);
    }
    expect(token.generated).toBeUndefined();
  });

  it('generates a token once, keeps only its SHA-256, and accepts it on the next start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-token-'));
    const first = await loadDashboardToken(dataDir, undefined);
    expect(first.generated).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const stored = (await readFile(join(dataDir, 'dashboard-token.sha256'), 'utf8')).trim();
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toContain(first.generated);
    const second = await loadDashboardToken(dataDir, undefined);
    expect(second.generated).toBeUndefined();
    expect(second.check(first.generated)).toBe(true);
    expect(second.check('something else')).toBe(false);
  });

  it('refuses to start on a damaged digest file instead of failing every check', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-token-'));
    await writeFile(join(dataDir, 'dashboard-token.sha256'), 'abc123\n');
    await expect(loadDashboardToken(dataDir, undefined)).rejects.toThrow(/does not hold a SHA-256 digest/);
  });
});
