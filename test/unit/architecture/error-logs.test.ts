import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/** One way to log an error (core/logger.ts), as lint enforces it: each probe is linted as if it lived at `file`. */
const root = join(import.meta.dirname, '..', '..', '..');
const eslint = new ESLint({ cwd: root });

async function restrictedSyntax(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(root, file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

const probe = (line: string) => `import type { Logger } from '../core/logger.js';\nexport function f(log: Logger, error: unknown, message: string): void {\n  ${line}\n}\n`;

// The first lint loads the whole config and its TypeScript parser: seconds on a loaded machine, not a unit test's 5.
describe('one way to log an error (core/logger.ts)', { timeout: 60_000 }, () => {
  it.each([
    ['gateway/probe.ts', "log.warn({ err: (error as Error).message }, 'not delivered');"],
    ['rules/probe.ts', "log.warn({ partition: 1, err: (error as Error)?.message }, 'not restored');"],
    ['consumers/probe.ts', "log.error({ err: message }, 'store write failed');"],
    ['core/probe.ts', "log.error({ error: String(error) }, 'failed');"],
    ['core/streams/probe.ts', "log.error({ err: `${error}` }, 'failed');"],
    ['cli/probe.ts', "log.error(`start-up failed: ${(error as Error).message}`);"],
    ['bench/probe.ts', "log.error((error as Error).stack);"],
  ])('%s: refuses %s', async (file, line) => {
    expect(await restrictedSyntax(file, probe(line))).toEqual([expect.stringMatching(/log the error itself under `err`/)]);
  });

  it.each([
    ['gateway/probe.ts', "log.warn({ err: error }, 'not delivered');"],
    ['consumers/probe.ts', "log.warn({ storeMessage: message }, 'store refused a reading');"],
    ['cli/probe.ts', "console.error(`sluice: ${(error as Error).message}`);"],
  ])('%s: allows %s', async (file, line) => {
    expect(await restrictedSyntax(file, probe(line))).toEqual([]);
  });
});
