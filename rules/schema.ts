/**
 * The rules file (YAML, or JSON, which YAML reads too): `{ rules: [...] }`, validated once at load so the engine
 * never meets a bad rule. Every problem is reported at once, each naming its rule, field and line, so an
 * operator fixes the file in one pass.
 */
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { SEVERITIES, type Severity } from '../core/alerts.js';
import { conditionSchema, durationSchema } from './condition-schema.js';

export { SEVERITIES, type Severity };

/** Which devices a rule watches; absent fields do not narrow, so `{}` is every device. All given fields must match. */
const selectorSchema = z.strictObject({
  ids: z.array(z.string().min(1)).min(1).optional(),
  /** A glob on the device id: `*` any run of characters, `?` one character. */
  match: z.string().min(1).optional(),
  /** Every tag given must be on the device's readings with this value. */
  tags: z.record(z.string(), z.string()).optional(),
});

const notifySchema = z.strictObject({
  webhook: z.strictObject({ url: z.url(), secretHeader: z.strictObject({ name: z.string().min(1), value: z.string().min(1) }).optional() }).optional(),
  /** Publish the alert to the device on `devices/{id}/commands/alerts`. */
  device: z.boolean().optional(),
  /** Send an open alert again this often. */
  repeatEvery: durationSchema.optional(),
  /** Fewer notifications than this apart are held back (a flapping rule). */
  minInterval: durationSchema.optional(),
});

export const ruleSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a slug: lowercase letters, digits, ".", "_" or "-", at most 64'),
  description: z.string().min(1),
  severity: z.enum(SEVERITIES),
  devices: selectorSchema.default({}),
  enabled: z.boolean().default(true),
  condition: conditionSchema,
  notify: notifySchema.optional(),
});

const fileSchema = z.strictObject({ rules: z.array(z.unknown()) });

export type Rule = z.output<typeof ruleSchema>;
export type DeviceSelector = Rule['devices'];

export interface RuleFileError {
  source: string;
  /** 1-based line in the file, when the problem has a place in it. */
  line?: number;
  /** `rules[2] (freezer-warm)`, or `rules[2]` for a rule without an id; absent for the file as a whole. */
  rule?: string;
  /** The field inside the rule (or the file), dotted: `condition.clearAt`. */
  path: string;
  message: string;
}

export type RuleFileResult = { ok: true; rules: Rule[] } | { ok: false; errors: RuleFileError[] };

/** `demo.yaml:12: rules[2] (freezer-warm): condition.clearAt: must be below raiseAt for "above" (…)` */
export function formatRuleFileError(error: RuleFileError): string {
  const where = error.line === undefined ? error.source : `${error.source}:${error.line}`;
  return [where, error.rule, error.path, error.message].filter((part) => part !== undefined && part !== '').join(': ');
}

/** Parses and validates a whole rules file; `source` (a file name) prefixes every error. */
export function parseRuleFile(text: string, source: string): RuleFileResult {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true });
  if (document.errors.length > 0) {
    return { ok: false, errors: document.errors.map((error) => ({ source, line: error.linePos?.[0].line, path: '', message: `invalid YAML: ${firstLine(error.message)}` })) };
  }
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = document.getIn(path.slice(0, depth) as unknown[], true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const data: unknown = document.toJS();
  if (data === null || data === undefined) return { ok: false, errors: [{ source, path: '', message: 'empty: expected { rules: [...] }' }] };
  const file = fileSchema.safeParse(data);
  if (!file.success) {
    return { ok: false, errors: file.error.issues.map((issue) => ({ source, line: lineOf(issue.path), path: dotted(issue.path), message: issue.message })) };
  }
  const errors: RuleFileError[] = [];
  const rules: Rule[] = [];
  const firstIndexOfId = new Map<string, number>();
  file.data.rules.forEach((raw, index) => {
    const name = ruleName(raw, index);
    const parsed = ruleSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        errors.push({ source, line: lineOf(['rules', index, ...issue.path]), rule: name, path: dotted(issue.path), message: readable(issue.message) });
      }
      return;
    }
    const earlier = firstIndexOfId.get(parsed.data.id);
    if (earlier !== undefined) {
      errors.push({ source, line: lineOf(['rules', index, 'id']), rule: name, path: 'id', message: `duplicate id: rules[${earlier}] has it too` });
      return;
    }
    firstIndexOfId.set(parsed.data.id, index);
    rules.push(parsed.data);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, rules };
}

function ruleName(raw: unknown, index: number): string {
  const id = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
  return typeof id === 'string' && id !== '' ? `rules[${index}] (${id})` : `rules[${index}]`;
}

/** `['condition', 'metrics', 0]` → `condition.metrics[0]` */
function dotted(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? String(key) : `${text}.${String(key)}`), '');
}

/** zod says a missing field is "expected string, received undefined"; a person says it is required. */
function readable(message: string): string {
  return message.endsWith('received undefined') ? 'required' : message;
}

/** The yaml library appends a code excerpt after the first line; the line number already says where. */
function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
