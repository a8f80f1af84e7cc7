import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema, configVariableNames } from '../../../core/config.js';

const root = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** `| `NAME` | default | …` rows of a markdown table: name → the default cell. */
function variableRows(table: string): Map<string, string> {
  return new Map([...table.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
}

/** The configuration table of docs/contracts.md §3: the first table of that section, up to its first blank line. */
function contractsConfigTable(): string {
  const contracts = read('docs/contracts.md');
  const section = contracts.slice(contracts.indexOf('\n## 3. Configuration'), contracts.indexOf('\n## 4. '));
  const start = section.indexOf('\n| variable | default |');
  expect(start, 'docs/contracts.md §3 has a "| variable | default |" table').toBeGreaterThan(-1);
  return section.slice(start, section.indexOf('\n\n', start));
}

/**
 * How a table states a schema default: the value in backticks, `(empty)` for the empty string, `—` for none (then
 * optionally what it falls back to, e.g. "— (`{DATA_DIR}/rules.yaml`)").
 */
function documentedDefault(value: unknown): string {
  if (value === undefined) return '—';
  if (value === '') return '(empty)';
  return `\`${String(value)}\``;
}

describe('configuration documentation', () => {
  const exampleVariables = read('.env.example')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
  const readmeRows = variableRows(read('README.md'));
  const contractsRows = variableRows(contractsConfigTable());
  const defaults = configSchema.parse({}) as Record<string, unknown>;

  it('.env.example lists exactly the variables the config schema knows', () => {
    expect([...exampleVariables].sort()).toEqual([...configVariableNames].sort());
  });

  it('the README table lists exactly the variables the config schema knows', () => {
    expect([...readmeRows.keys()].sort()).toEqual([...configVariableNames].sort());
  });

  it('the table of docs/contracts.md §3 lists exactly the variables the config schema knows', () => {
    expect([...contractsRows.keys()].sort()).toEqual([...configVariableNames].sort());
  });

  it('the defaults in .env.example are the schema defaults', () => {
    const example = Object.fromEntries(
      read('.env.example')
        .split('\n')
        .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, m[2]!]),
    );
    for (const [name, value] of Object.entries(defaults)) {
      expect(example[name], name).toBe(value === undefined ? '' : String(value));
    }
  });

  it('the defaults in the README and docs/contracts.md tables are the schema defaults', () => {
    for (const name of configVariableNames) {
      const expected = documentedDefault(defaults[name]);
      const statesIt = (cell: string | undefined) => cell === expected || cell?.startsWith(`${expected} `) === true;
      expect(readmeRows.get(name), `README ${name}: starts with ${expected}`).toSatisfy(statesIt);
      expect(contractsRows.get(name), `docs/contracts.md ${name}: starts with ${expected}`).toSatisfy(statesIt);
    }
  });

  it('docs/contracts.md names every environment variable the code reads outside the config schema', () => {
    const contracts = read('docs/contracts.md');
    // The operating system's own, which nothing here defines.
    const system = new Set(['PATH', 'HOME']);
    const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
      .split('\0')
      .filter((file) => /\.(ts|mjs|js)$/.test(file) || file === '.ci/run' || file === 'docker-compose.yml' || file === 'Dockerfile');
    const named = new Set<string>();
    for (const file of files) {
      const text = read(file);
      const patterns = [
        /process\.env\.([A-Z][A-Z0-9_]*)/g, // process.env dot name
        /process\.env\[['"]([A-Z][A-Z0-9_]*)['"]\]/g, // process.env bracket name
        /\$\{([A-Z][A-Z0-9_]*):?-/g, // a default in shell and compose files: dollar, brace, name, colon-dash
        /['"`](SLUICE_[A-Z0-9_]+)['"`=]/g, // names handed to a helper, e.g. portFromEnv('SLUICE_KAFKA_PORT')
      ];
      for (const pattern of patterns) for (const match of text.matchAll(pattern)) named.add(match[1]!);
    }
    const missing = [...named].filter((name) => !system.has(name) && !contracts.includes(`\`${name}\``)).sort();
    expect(missing).toEqual([]);
  });
});
