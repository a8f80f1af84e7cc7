import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');

/** Relative imports and re-exports of a module, type-only ones included: a circle of types is still a circle to read. */
function relativeImports(file: string, source: string): string[] {
  const targets: string[] = [];
  for (const match of source.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms)) {
    const target = normalize(join(dirname(file), match[1]!)).replace(/\.js$/, '.ts');
    if (existsSync(join(root, target))) targets.push(target);
  }
  return targets;
}

/** Strongly connected components of more than one module (Tarjan): each is an import circle. */
function importCircles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (module: string): void => {
    index.set(module, next);
    low.set(module, next++);
    stack.push(module);
    onStack.add(module);
    for (const target of graph.get(module) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(module, Math.min(low.get(module)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(module, Math.min(low.get(module)!, index.get(target)!));
      }
    }
    if (low.get(module) !== index.get(module)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== module);
    if (component.length > 1) circles.push(component.sort());
  };
  for (const module of graph.keys()) if (!index.has(module)) visit(module);
  return circles;
}

describe('import circles', () => {
  it('finds a circle, type-only imports included (the probe)', () => {
    const graph = new Map([
      ['bench/fuzz/runner.ts', ['bench/fuzz/runner-thread.ts']],
      ['bench/fuzz/runner-thread.ts', ['bench/fuzz/runner.ts', 'core/errors.ts']],
      ['core/errors.ts', []],
    ]);
    expect(importCircles(graph)).toEqual([['bench/fuzz/runner-thread.ts', 'bench/fuzz/runner.ts']]);
    expect(relativeImports('bench/fuzz/runner.ts', "import type { X } from './runner-thread.js';\nexport { y } from '../../core/errors.js';")).toEqual([
      'bench/fuzz/runner-thread.ts',
      'core/errors.ts',
    ]);
  });

  it('no module of the repository imports itself through others: two modules that need each other share a third', () => {
    const files = execFileSync('git', ['ls-files', '*.ts'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((file) => file !== '' && !file.endsWith('.d.ts'));
    const graph = new Map(files.map((file) => [file, relativeImports(file, readFileSync(join(root, file), 'utf8'))]));
    expect(importCircles(graph)).toEqual([]);
  });
});
