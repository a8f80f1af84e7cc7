/**
 * Plain values: the whole payload is one value (docs/contracts.md §4, `devices/{id}/telemetry/{metric}`).
 * Surrounding whitespace is ignored because command-line publishers often append a newline.
 *
 *   a decimal number (`21.5`, `-3`, `1e3`)       → number; `NaN`, `inf`, `Infinity`, `1e999` → NON_FINITE_NUMBER
 *   `true` / `false`                             → boolean
 *   anything else, only where strings are allowed → string of printable characters, ≤ maxStringLength
 */
import { quote } from './rejections.js';
import { DECIMAL_NUMBER, exceedsLength, type Problem } from './validate.js';

const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;
/** C0 and C1 controls and DEL: a "short string" reading is meant for labels and states, not binary data. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

export type PlainValue = { value: number | boolean | string } | { problem: Problem };

/** Returns undefined when the text is no number or boolean and strings are not allowed here. */
export function parsePlainValue(
  text: string,
  allowString: boolean,
  maxStringLength: number,
): PlainValue | undefined {
  const trimmed = text.trim();
  if (trimmed === 'true') return { value: true };
  if (trimmed === 'false') return { value: false };
  if (DECIMAL_NUMBER.test(trimmed) || NON_FINITE.test(trimmed)) {
    const value = NON_FINITE.test(trimmed) ? Number.NaN : Number(trimmed);
    if (!Number.isFinite(value)) {
      return { problem: { code: 'NON_FINITE_NUMBER', reason: `${quote(trimmed)} is not a finite number` } };
    }
    return { value };
  }
  if (!allowString) return undefined;
  if (hasControlCharacter(trimmed)) {
    return { problem: { code: 'UNSUPPORTED_VALUE', reason: 'a plain string value must be printable text' } };
  }
  if (exceedsLength(trimmed, maxStringLength)) {
    return { problem: { code: 'STRING_TOO_LONG', reason: `plain value is longer than ${maxStringLength} characters` } };
  }
  return { value: trimmed };
}
