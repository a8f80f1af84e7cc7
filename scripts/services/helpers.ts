/** Small helpers of the services scripts: running a command, reading files, formatting, the default log. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';

/** A progress line; `err`: the error itself (stack, code and cause are kept), never only its message. */
export type Log = (line: string, fields?: { err?: unknown }) => void;

export const POLL_MS = 250;
export const PROGRESS_EVERY_MS = 5_000;
export const LOG_TAIL_LINES = 30;

export interface RunOptions {
  env?: Record<string, string>;
  /** For steps that can take minutes: say every so often that it is still going. */
  progress?: { log: Log; label: string };
}

export function runCommand(file: string, args: string[], options: RunOptions = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(file, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-64 * 1024);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const progress = options.progress;
    const timer = progress && setInterval(() => progress.log(`${progress.label}, ${seconds(Date.now() - started)}`), 15_000);
    const finish = (code: number, extra = ''): void => {
      if (timer) clearInterval(timer);
      resolve({ code, output: output + extra });
    };
    child.once('error', (error) => finish(127, `\n${file}: ${error.message}`));
    child.once('close', (code) => finish(code ?? 1));
  });
}

export function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function logToStderr(line: string, fields: { err?: unknown } = {}): void {
  process.stderr.write(`services: ${line}${fields.err === undefined ? '' : `: ${inspect(fields.err)}`}\n`);
}
