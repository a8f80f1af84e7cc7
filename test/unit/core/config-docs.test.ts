import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema, configVariableNames } from '../../../core/config.js';

const root = join(import.meta.dirname, '..', '..', '..');

describe('configuration documentation', () => {
  const exampleVariables = readFileSync(join(root, '.env.example'), 'utf8')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
  const readmeVariables = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!);

  it('.env.example lists exactly the variables the config schema knows', () => {
    expect([...exampleVariables].sort()).toEqual([...configVariableNames].sort());
  });

  it('the README table lists exactly the variables the config schema knows', () => {
    expect([...readmeVariables].sort()).toEqual([...configVariableNames].sort());
  });

  it('the defaults in .env.example are the schema defaults', () => {
    const example = Object.fromEntries(
      readFileSync(join(root, '.env.example'), 'utf8')
        .split('\n')
        .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, m[2]!]),
    );
    const defaults = configSchema.parse({});
    for (const [name, value] of Object.entries(defaults)) {
      expect(example[name], name).toBe(value === undefined ? '' : String(value));
    }
  });
});
