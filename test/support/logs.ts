import { Writable } from 'node:stream';
import { createLogger } from '../../core/logger.js';
import type { Logger } from '../../core/logger.js';

/** A logger whose JSON lines are kept, parsed, for assertions. */
export function capturedLogger(level = 'debug'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger(level, { destination }), lines };
}
