import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// .ci/audit.mjs judges `npm audit --omit=dev --json`; here it judges saved reports of the same shape.
const script = fileURLToPath(new URL('../../../.ci/audit.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Vuln = { severity: string; fixAvailable: boolean | { name: string; version: string; isSemVerMajor: boolean } };

function judge(report: unknown, env: Record<string, string> = {}): { code: number | null; out: string } {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof report === 'string' ? report : JSON.stringify(report));
  const run = spawnSync(process.execPath, [script, file], { encoding: 'utf8', env: { ...process.env, SLUICE_AUDIT_REQUIRED: '', ...env } });
  return { code: run.status, out: run.stdout + run.stderr };
}

function report(vulns: Record<string, Vuln>): unknown {
  const counts: Record<string, number> = { info: 0, low: 0, moderate: 0, high: 0, critical: 0 };
  const vulnerabilities = Object.fromEntries(
    Object.entries(vulns).map(([name, v]) => {
      counts[v.severity] = (counts[v.severity] ?? 0) + 1;
      return [name, { name, range: '<9.9.9', via: [{ title: `${name} advisory`, url: 'https://example.test/a' }], effects: [], nodes: [], ...v }];
    }),
  );
  return { auditReportVersion: 2, vulnerabilities, metadata: { vulnerabilities: { ...counts, total: Object.keys(vulns).length }, dependencies: { prod: 10, total: 20 } } };
}

describe('CI audit gate (.ci/audit.mjs)', () => {
  it('fails on a high or critical advisory with a fix available, naming it', () => {
    for (const severity of ['high', 'critical']) {
      const { code, out } = judge(report({ cookie: { severity, fixAvailable: { name: '@fastify/cookie', version: '11.0.0', isSemVerMajor: true } } }));
      expect(code).toBe(1);
      expect(out).toContain('FAIL: 1 high/critical');
      expect(out).toContain('cookie@<9.9.9: fix: @fastify/cookie@11.0.0 (semver-major)');
    }
  });

  it('passes, with a summary, on advisories without a fix and on lower severities', () => {
    const { code, out } = judge(report({ ws: { severity: 'critical', fixAvailable: false }, pino: { severity: 'moderate', fixAvailable: true } }));
    expect(code).toBe(0);
    expect(out).toContain('2 vulnerable package(s) (critical 1, high 0, moderate 1, low 0, info 0) among 10 production dependencies');
    expect(out).toContain('no fix available');
    expect(out).toContain('OK: no high or critical advisory with a fix available.');
  });

  it('says loudly when the advisory service gave no report, and fails then only when asked to', () => {
    const error = { message: '405 Method Not Allowed - POST https://registry.example.test/-/npm/v1/security/advisories/bulk', statusCode: 405 };
    const lenient = judge(error);
    expect(lenient.code).toBe(0);
    expect(lenient.out).toContain('NOT RUN');
    expect(lenient.out).not.toContain('registry.example.test');
    expect(judge(error, { SLUICE_AUDIT_REQUIRED: '1' }).code).toBe(1);
    expect(judge('not json').code).toBe(0);
  });
});
