import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const THIS_FILE = 'test/unit/docs/contracts.test.ts';

/**
 * A citation of the design notes that live outside the repository (`../shared/`), which a contributor who clones
 * Sluice cannot read. The repository's own documents are the contract: docs/contracts.md, README.md, ARCHITECTURE.md.
 */
const OUTSIDE_CITATION = /DESIGN\.md|DESIGN §|shared\/DESIGN/;

function trackedTextFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file !== '' && !/\.(png|jpe?g|gif|ico|woff2?)$/.test(file));
}

describe('the repository owns its contracts', () => {
  it('no tracked file cites a document outside the repository', () => {
    const citing = trackedTextFiles().filter((file) => {
      if (file === THIS_FILE) return false;
      return OUTSIDE_CITATION.test(readFileSync(join(root, file), 'utf8'));
    });
    expect(citing).toEqual([]);
  });

  it('every citation of docs/contracts.md names a section it has', () => {
    const contracts = readFileSync(join(root, 'docs/contracts.md'), 'utf8');
    const sections = new Set([...contracts.matchAll(/^## (\d+)\. /gm)].map((m) => m[1]!));
    const cited: string[] = [];
    for (const file of trackedTextFiles()) {
      for (const match of readFileSync(join(root, file), 'utf8').matchAll(/contracts\.md §(\d+)/g)) cited.push(`${file}: §${match[1]}`);
    }
    expect(cited.filter((citation) => !sections.has(citation.slice(citation.lastIndexOf('§') + 1)))).toEqual([]);
    expect(cited.length).toBeGreaterThan(10);
  });
});
