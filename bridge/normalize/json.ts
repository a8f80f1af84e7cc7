/**
 * Sluice's JSON shapes (a JSON array that looks like SenML is handled by ./senml.ts instead):
 *
 *   {"temperature":21.5,"humidity":40,"ts":1732492800123,"tags":{"room":"a"},"units":{"temperature":"Cel"}}
 *       one reading per member. `ts`, `time` and `timestamp` name the time (first present wins, in that order),
 *       `tags` holds tags for every reading of the object, `units` maps metric name → unit. Values are numbers,
 *       booleans or strings; a nested object is flattened into `parent_child` names at any depth the nesting
 *       limit allows (`{"env":{"temp":1}}` → `env_temp`); `units` keys use the flattened name.
 *   [ {…}, {…} ]
 *       an array of such objects; rejections carry the element index.
 *   {"readings":[{"metric":"temperature","value":21.5,"unit":"Cel","ts":…,"tags":{…}}], "ts":…, "tags":{…}}
 *       explicit readings; the envelope's own time and tags are defaults that each entry may override.
 *       Entry members other than metric/value/unit/time/tags are ignored, like unknown SenML fields.
 *
 * A time or tags problem rejects every reading of its object (one rejection): the readings would otherwise be
 * stored at the wrong time or under the wrong tags.
 */
import { describe, quote } from './rejections.js';
import { epochNsFromJson, isTimeError, type TimeNsResult } from './timestamp.js';
import { isPlainObject, tagsFromJson, type ParseContext, type Problem } from './validate.js';

export const TIME_KEYS: readonly string[] = ['ts', 'time', 'timestamp'];
const OBJECT_RESERVED_KEYS: readonly string[] = [...TIME_KEYS, 'tags', 'units'];
const ENVELOPE_KEYS: readonly string[] = [...TIME_KEYS, 'tags', 'readings'];

/**
 * Measures container nesting on the raw text, before JSON.parse, so a hostile `[[[[…` never reaches the parser
 * or any recursive walk. Stops counting as soon as the limit is passed.
 */
export function exceedsJsonDepth(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth -= 1;
    }
  }
  return false;
}

export function parseJson(text: string, maxDepth: number): { value: unknown } | { problem: Problem } {
  if (exceedsJsonDepth(text, maxDepth)) {
    return { problem: { code: 'TOO_DEEP', reason: `JSON nests deeper than ${maxDepth} levels` } };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { problem: { code: 'INVALID_JSON', reason: `not valid JSON: ${detail.slice(0, 120)}` } };
  }
}

function own(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** The object's time in epoch ns, undefined when it has none. */
function objectTime(object: Record<string, unknown>): TimeNsResult | undefined {
  const key = TIME_KEYS.find((k) => Object.hasOwn(object, k));
  return key === undefined ? undefined : epochNsFromJson(object[key]);
}

interface Shared {
  time?: bigint;
  tags?: Record<string, string>;
}

/** Reads the time and tags that apply to a whole object; rejects once for the object when either is bad. */
function sharedOf(object: Record<string, unknown>, context: ParseContext, index?: number): Shared | undefined {
  const shared: Shared = {};
  const time = objectTime(object);
  if (time !== undefined) {
    if (isTimeError(time)) {
      context.sink.reject('BAD_TIMESTAMP', time.error, index);
      return undefined;
    }
    shared.time = time;
  }
  if (Object.hasOwn(object, 'tags')) {
    const result = tagsFromJson(object.tags, context.options);
    if ('problem' in result) {
      context.sink.reject(result.problem.code, result.problem.reason, index);
      return undefined;
    }
    shared.tags = result.tags;
  }
  return shared;
}

function unitsOf(
  object: Record<string, unknown>,
  context: ParseContext,
  index?: number,
): Map<string, string> | undefined {
  const units = new Map<string, string>();
  if (!Object.hasOwn(object, 'units')) return units;
  const raw = object.units;
  if (!isPlainObject(raw)) {
    context.sink.reject('UNSUPPORTED_VALUE', `units must be an object, not ${describe(raw)}`, index);
    return undefined;
  }
  for (const [metric, unit] of Object.entries(raw)) {
    if (typeof unit !== 'string') {
      const reason = `unit of ${quote(metric)} must be a string, not ${describe(unit)}`;
      context.sink.reject('UNSUPPORTED_VALUE', reason, index);
      return undefined;
    }
    units.set(metric, unit);
  }
  return units;
}

function metricsObject(object: Record<string, unknown>, context: ParseContext, index?: number): void {
  const shared = sharedOf(object, context, index);
  if (!shared) return;
  const units = unitsOf(object, context, index);
  if (!units) return;
  const topDepth = index === undefined ? 1 : 2;
  const visit = (name: string, value: unknown, depth: number): void => {
    if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') {
      const unit = units.get(name);
      context.sink.draft({
        metric: name,
        value,
        ...(unit === undefined ? {} : { unit }),
        ...shared,
        ...(index === undefined ? {} : { index }),
      });
    } else if (isPlainObject(value)) {
      // Unreachable while exceedsJsonDepth runs first; kept so this walk stays bounded on its own.
      if (depth + 1 > context.options.maxNestingDepth) {
        const reason = `${quote(name)} nests deeper than ${context.options.maxNestingDepth} levels`;
        context.sink.reject('TOO_DEEP', reason, index);
        return;
      }
      for (const [key, inner] of Object.entries(value)) visit(`${name}_${key}`, inner, depth + 1);
    } else {
      const reason = `${quote(name)} is ${describe(value)}, not a number, boolean or string`;
      context.sink.reject('UNSUPPORTED_VALUE', reason, index);
    }
  };
  for (const [key, value] of Object.entries(object)) {
    if (!OBJECT_RESERVED_KEYS.includes(key)) visit(key, value, topDepth);
  }
}

function envelope(object: Record<string, unknown>, entries: unknown[], context: ParseContext): void {
  const shared = sharedOf(object, context);
  if (!shared) return;
  for (const key of Object.keys(object)) {
    if (!ENVELOPE_KEYS.includes(key)) {
      context.sink.reject('UNSUPPORTED_VALUE', `${quote(key)} is not allowed next to "readings"`);
    }
  }
  entries.forEach((entry, index) => {
    if (!isPlainObject(entry)) {
      context.sink.reject('UNSUPPORTED_VALUE', `reading must be an object, not ${describe(entry)}`, index);
      return;
    }
    const metric = own(entry, 'metric');
    if (typeof metric !== 'string') {
      context.sink.reject('INVALID_METRIC_NAME', `reading has no "metric" string (got ${describe(metric)})`, index);
      return;
    }
    const value = own(entry, 'value');
    if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'string') {
      const kind = value === undefined ? 'missing' : describe(value);
      const reason = `value of ${quote(metric)} is ${kind}, not a number, boolean or string`;
      context.sink.reject('UNSUPPORTED_VALUE', reason, index);
      return;
    }
    const unit = own(entry, 'unit');
    if (unit !== undefined && typeof unit !== 'string') {
      const reason = `unit of ${quote(metric)} must be a string, not ${describe(unit)}`;
      context.sink.reject('UNSUPPORTED_VALUE', reason, index);
      return;
    }
    const entryShared = sharedOf(entry, context, index);
    if (!entryShared) return;
    const time = entryShared.time ?? shared.time;
    const tags = shared.tags || entryShared.tags ? { ...shared.tags, ...entryShared.tags } : undefined;
    context.sink.draft({
      metric,
      value,
      ...(unit === undefined ? {} : { unit }),
      ...(time === undefined ? {} : { time }),
      ...(tags === undefined ? {} : { tags }),
      index,
    });
  });
}

/** A parsed JSON document in one of the shapes above. */
export function normalizeJson(document: unknown, context: ParseContext): void {
  if (Array.isArray(document)) {
    document.forEach((element, index) => {
      if (isPlainObject(element)) metricsObject(element, context, index);
      else context.sink.reject('UNSUPPORTED_VALUE', `array element is ${describe(element)}, not an object`, index);
    });
  } else if (isPlainObject(document)) {
    const readings = own(document, 'readings');
    if (Array.isArray(readings)) envelope(document, readings, context);
    else metricsObject(document, context);
  } else {
    context.sink.reject('UNSUPPORTED_VALUE', `a JSON payload must be an object or an array, not ${describe(document)}`);
  }
}
