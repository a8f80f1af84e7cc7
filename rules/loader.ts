import { readFile, stat } from 'node:fs/promises';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { formatRuleFileError, parseRuleFile, type Rule } from './schema.js';

/** `text`: what was read (empty for a missing file), for the watch to tell an edit from what is running. */
export type RulesLoad = { ok: true; rules: Rule[]; missing: boolean; text: string } | { ok: false; errors: string[]; text: string };

/** Reads and validates the rules file; a missing file is an empty rule set (Sluice runs without rules). */
export async function loadRulesFile(path: string): Promise<RulesLoad> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, rules: [], missing: true, text: '' };
    return { ok: false, errors: [`${path}: ${(error as Error).message}`], text: '' };
  }
  const parsed = parseRuleFile(text, path);
  return parsed.ok ? { ok: true, rules: parsed.rules, missing: false, text } : { ok: false, errors: parsed.errors.map(formatRuleFileError), text };
}

export interface RulesWatch {
  close(): void;
}

/**
 * Reloads the rules file when it changes. A valid edit is handed to `onRules`; an invalid one leaves the running
 * rules alone, and `onInvalid` says why (logged, counted, shown in the pipeline view). Polls the file's stat
 * rather than using inotify: editors save by writing a new file and renaming it over the old, which a watch on
 * the old inode misses, and a ConfigMap mounted into a container changes the same way. An edit is told from what
 * runs by its text (`loadedText`: what the caller loaded), so one made between that load and the first poll
 * counts too.
 */
export function watchRulesFile(
  path: string,
  handlers: { onRules: (rules: Rule[]) => void; onInvalid: (errors: string[]) => void },
  deps: { logger: Logger; metrics: Metrics },
  options: { loadedText: string; intervalMs?: number },
): RulesWatch {
  const log = deps.logger.child({ module: 'rules-file' });
  let seenText = options.loadedText;
  let seenStat: string | undefined;
  let polling = false;
  async function poll(): Promise<void> {
    const stats = await stat(path).catch(() => undefined);
    const now = stats ? `${stats.mtimeMs}:${stats.size}:${stats.ino}` : 'missing';
    if (now === seenStat) return;
    seenStat = now;
    const loaded = await loadRulesFile(path);
    if (loaded.text === seenText) return;
    seenText = loaded.text;
    if (loaded.ok) {
      deps.metrics.rulesReloads.inc({ outcome: 'loaded' });
      log.info({ path, rules: loaded.rules.length }, loaded.missing ? 'rules file removed: no rules run' : 'rules reloaded');
      handlers.onRules(loaded.rules);
    } else {
      deps.metrics.rulesReloads.inc({ outcome: 'invalid' });
      log.error({ path, errors: loaded.errors }, 'rules file invalid: the last good rules keep running');
      handlers.onInvalid(loaded.errors);
    }
  }
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    poll()
      .catch((error: unknown) => log.warn({ path, err: error }, 'rules file not read'))
      .finally(() => (polling = false));
  }, options.intervalMs ?? 1000);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
