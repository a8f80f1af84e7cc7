/** Which devices a rule watches (DeviceSelector in rules/schema.ts). */
import type { DeviceSelector } from './schema.js';

/**
 * Whether the selector picks the device. `tags` are the device's reading tags, undefined when unknown (no
 * reading seen yet): a selector on tags then does not match, since nothing says the device has them.
 */
export function selects(selector: DeviceSelector, deviceId: string, tags: Readonly<Record<string, string>> | undefined): boolean {
  if (selector.ids !== undefined && !selector.ids.includes(deviceId)) return false;
  if (selector.match !== undefined && !globToRegExp(selector.match).test(deviceId)) return false;
  if (selector.tags !== undefined) {
    for (const [name, value] of Object.entries(selector.tags)) if (tags?.[name] !== value) return false;
  }
  return true;
}

const compiled = new Map<string, RegExp>();

/** `*` any run of characters (none included), `?` exactly one; everything else literal. */
export function globToRegExp(glob: string): RegExp {
  let regExp = compiled.get(glob);
  if (regExp === undefined) {
    const source = [...glob].map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.+()[\]{}|/]/g, '\\$&'))).join('');
    regExp = new RegExp(`^${source}$`, 's');
    compiled.set(glob, regExp);
  }
  return regExp;
}
