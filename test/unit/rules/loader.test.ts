import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/logger.js';
import { createMetrics } from '../../../core/metrics.js';
import { loadRulesFile, watchRulesFile, type RulesWatch } from '../../../rules/loader.js';
import type { Rule } from '../../../rules/schema.js';

const valid = (above: number) => `rules:\n  - id: hot\n    description: hot\n    severity: warning\n    condition: { type: threshold, metrics: [t], above: ${above} }\n`;

/** As editors save: a new file renamed over the old, so a poll never reads half of it. */
async function save(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

let dir: string | undefined;
let watch: RulesWatch | undefined;
afterEach(async () => {
  watch?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('rules file loading', () => {
  it('reads a missing file as no rules, and lists every problem of an invalid one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-rules-'));
    expect(await loadRulesFile(join(dir, 'none.yaml'))).toEqual({ ok: true, rules: [], missing: true, text: '' });
    await writeFile(join(dir, 'bad.yaml'), 'rules:\n  - id: Bad Id\n    severity: fatal\n');
    const bad = await loadRulesFile(join(dir, 'bad.yaml'));
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.errors.join('\n')).toMatch(/rules\[0\].*id/);
    expect(!bad.ok && bad.errors.join('\n')).toMatch(/severity/);
  });

  it('hands a valid edit over, and keeps the last good rules when an edit is invalid, saying why', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-rules-'));
    const path = join(dir, 'rules.yaml');
    await writeFile(path, valid(50));
    const loaded: Rule[][] = [];
    const invalid: string[][] = [];
    watch = watchRulesFile(path, { onRules: (rules) => void loaded.push(rules), onInvalid: (errors) => void invalid.push(errors) }, { logger: createLogger('silent'), metrics: createMetrics() }, { loadedText: valid(50), intervalMs: 20 });

    await save(path, `${valid(60)}# edited\n`);
    await expect.poll(() => loaded.length).toBe(1);
    expect(loaded[0]![0]!.condition).toMatchObject({ above: 60 });

    await save(path, 'rules:\n  - id: hot\n    description: hot\n    severity: warning\n    condition: { type: threshold, metrics: [t] }\n');
    await expect.poll(() => invalid.length).toBe(1);
    expect(invalid[0]!.join('\n')).toMatch(/rules\[0\] \(hot\): condition/);
    expect(loaded.length).toBe(1);
  });
});
