import type { ReadingValue } from '../protocol.js';

/**
 * A reading's value as a chart plots it: booleans are 1 and 0, strings and non-finite numbers nothing. Kept out of
 * format.ts, which needs the DOM's types, so the fleet store compiles (and is unit tested) without them.
 */
export function numeric(value: ReadingValue): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}
