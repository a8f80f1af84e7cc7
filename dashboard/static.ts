import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';

/**
 * The built web app (`npm run build:web` → dist/dashboard-web/). It is a handful of small files, so they are
 * read once at start-up and served from memory with an ETag: no static-file plugin, no disk reads per request.
 */

export interface WebAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

export interface WebAssets {
  /** Directory the files came from, or undefined when the web app was not built. */
  root: string | undefined;
  index: WebAsset | undefined;
  /** Keyed by file name (the URL is `/assets/<name>`). */
  files: ReadonlyMap<string, WebAsset>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/**
 * Where the bundle is: next to the compiled server (dist/dashboard → dist/dashboard-web), or, when the
 * server runs from source (tsx), in dist/ under the project root.
 */
export function defaultWebRoot(): string | undefined {
  const here = import.meta.dirname;
  const candidates = [resolve(here, '..', 'dashboard-web'), resolve(here, '..', 'dist', 'dashboard-web')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')));
}

export async function loadWebAssets(root: string | undefined = defaultWebRoot()): Promise<WebAssets> {
  const files = new Map<string, WebAsset>();
  if (!root) return { root: undefined, index: undefined, files };
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const body = await readFile(join(root, entry.name));
    files.set(entry.name, {
      body,
      contentType: TYPES[extname(entry.name)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    });
  }
  const index = files.get('index.html');
  files.delete('index.html');
  return { root, index, files };
}

export const MISSING_BUILD_PAGE = `<!doctype html><meta charset="utf-8"><title>Sluice</title>
<p style="font-family:system-ui;padding:2em">The dashboard web app is not built. Run <code>npm run build</code> (it runs <code>build:web</code>) and restart.</p>`;
