import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import Table from 'cli-table3';
import { type Command, InvalidArgumentError } from 'commander';
import { rulesFilePath } from '../../core/config.js';
import type { AlertTransition } from '../../core/alerts.js';
import { describeCondition } from '../../rules/describe.js';
import { formatDuration, parseDuration } from '../../rules/duration.js';
import { DEFAULT_ALLOWED_LATENESS_MS } from '../../rules/engine.js';
import { loadRulesFile } from '../../rules/loader.js';
import { evaluateOffline, formatTransition } from '../../rules/offline.js';
import { formatRuleFileError, parseRuleFile, type DeviceSelector, type Rule, type RuleFileError } from '../../rules/schema.js';
import { configOrExit } from '../common.js';

/** What a subcommand prints and how it ends: the actions write it out, the tests read it. */
export interface CommandResult {
  exitCode: 0 | 1;
  out: string[];
  err: string[];
}

export interface RulesTestOptions {
  device: string;
  /** A file of records: a JSON array or NDJSON (rules/offline.ts says what a line may be). */
  readings: string;
  latenessMs?: number;
  /** Tick once more at this time (epoch ms) after the last record, for timers that run out after it. */
  until?: number;
}

/** `sluice rules list`: the rules of the rules file as a table. A missing file is no rules, not an error. */
export async function listRules(path: string): Promise<CommandResult> {
  const loaded = await loadRulesFile(path);
  if (!loaded.ok) return { exitCode: 1, out: loaded.errors, err: [`${path}: invalid, ${plural(loaded.errors.length, 'problem')}; "sluice rules check ${path}" says the same`] };
  if (loaded.missing) return { exitCode: 0, out: [`no rules file at ${path}: no rules run (write one there, or point RULES_FILE at one)`], err: [] };
  const table = new Table({ head: ['id', 'severity', 'on', 'devices', 'condition', 'notify'], style: { head: [], border: [] } });
  for (const rule of loaded.rules) {
    table.push([rule.id, rule.severity, rule.enabled ? 'yes' : 'no', describeDevices(rule.devices), describeCondition(rule.condition), describeNotify(rule.notify)]);
  }
  return { exitCode: 0, out: [table.toString(), `${countOf(loaded.rules)} in ${path}`], err: [] };
}

/** `sluice rules check FILE`: every problem with its line, rule and field; exit code 1 when there is one. */
export async function checkRules(file: string): Promise<CommandResult> {
  const parsed = await readRules(file);
  if ('failed' in parsed) return parsed.failed;
  return { exitCode: 0, out: [`${file}: valid, ${countOf(parsed.rules)}`], err: [] };
}

/**
 * `sluice rules test FILE --device ID --readings FILE`: the rules run over one device's records with no Kafka and
 * no clock (rules/offline.ts); each alert transition on a line, then what happened in one.
 */
export async function testRules(file: string, options: RulesTestOptions): Promise<CommandResult> {
  const parsed = await readRules(file);
  if ('failed' in parsed) return parsed.failed;
  let records: string;
  try {
    records = await readFile(options.readings, 'utf8');
  } catch (error) {
    return { exitCode: 1, out: [], err: [`cannot read ${options.readings}: ${(error as Error).message}`] };
  }
  const latenessMs = options.latenessMs ?? DEFAULT_ALLOWED_LATENESS_MS;
  const result = evaluateOffline(parsed.rules, options.device, records, { allowedLatenessMs: latenessMs, ...(options.until !== undefined ? { until: options.until } : {}) });
  const notes = [
    result.lateReadings > 0 ? `${plural(result.lateReadings, 'reading')} later than the allowed lateness (${formatDuration(latenessMs)}) left out` : '',
    result.otherDevices > 0 ? `${plural(result.otherDevices, 'record')} of other devices left out` : '',
    result.errors.length > 0 ? `${plural(result.errors.length, 'line')} not read` : '',
  ].filter((note) => note !== '');
  const line = `${describeTransitions(result.transitions)} for ${options.device} from ${basename(options.readings)}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
  return {
    exitCode: 0,
    out: [...result.transitions.map(formatTransition), line],
    err: result.errors.map((error) => `${options.readings}: ${error}`),
  };
}

/** Where the subcommands print and how they set the exit code; tests give their own. */
export interface CommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
  exit: (code: 0 | 1) => void;
}

const consoleIo: CommandIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  exit: (code) => void (process.exitCode = code),
};

export function registerRulesCommand(program: Command, io: CommandIo = consoleIo): void {
  const print = (result: CommandResult): void => {
    for (const line of result.out) io.out(line);
    for (const line of result.err) io.err(line);
    io.exit(result.exitCode);
  };
  const rules = program.command('rules').description('list, check and try out alert rules (RULES_FILE, by default rules.yaml in DATA_DIR)');

  rules
    .command('list')
    .description('show the rules in RULES_FILE')
    .action(async () => print(await listRules(rulesFilePath(configOrExit()))));

  rules
    .command('check')
    .argument('<file>', 'a rules file (YAML or JSON)')
    .description('validate a rules file: every problem with its line, rule and field; exit code 1 when invalid')
    .action(async (file: string) => print(await checkRules(file)));

  rules
    .command('test')
    .argument('<file>', 'a rules file (YAML or JSON)')
    .requiredOption('--device <id>', 'the device the records are of (records naming another device are left out)')
    .requiredOption('--readings <file>', 'NDJSON or a JSON array of readings {metric, value, ts}, device events {type, ts} and dead letters {code, receivedAt}')
    .option('--lateness <duration>', 'allowed lateness of readings (event time), e.g. 30s', durationArgument, DEFAULT_ALLOWED_LATENESS_MS)
    .option('--until <time>', 'tick once more at this time (ISO-8601 or epoch ms) after the last record, for timers that run out after it', timeArgument)
    .description('run rules over one device\'s records, without Kafka, and print the alert transitions they raise')
    .action(async (file: string, options: { device: string; readings: string; lateness: number; until?: number }) =>
      print(await testRules(file, { device: options.device, readings: options.readings, latenessMs: options.lateness, ...(options.until !== undefined ? { until: options.until } : {}) })),
    );
}

async function readRules(file: string): Promise<{ rules: Rule[] } | { failed: CommandResult }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { failed: { exitCode: 1, out: [], err: [`cannot read ${file}: ${(error as Error).message}`] } };
  }
  const parsed = parseRuleFile(text, file);
  if (parsed.ok) return { rules: parsed.rules };
  return { failed: { exitCode: 1, out: [...parsed.errors.map(formatRuleFileError), problemsSummary(file, parsed.errors)], err: [] } };
}

/** `7 rules (1 disabled)` */
function countOf(rules: readonly Rule[]): string {
  const disabled = rules.filter((rule) => !rule.enabled).length;
  return `${plural(rules.length, 'rule')}${disabled > 0 ? ` (${disabled} disabled)` : ''}`;
}

/** `rules.yaml: invalid, 3 problems in 2 rules` */
function problemsSummary(file: string, errors: readonly RuleFileError[]): string {
  const rules = new Set(errors.flatMap((error) => (error.rule !== undefined ? [error.rule] : []))).size;
  return `${file}: invalid, ${plural(errors.length, 'problem')}${rules > 0 ? ` in ${plural(rules, 'rule')}` : ''}`;
}

/** `3 transitions (2 raised, 1 cleared)`, or `no transitions`. */
function describeTransitions(transitions: readonly AlertTransition[]): string {
  if (transitions.length === 0) return 'no transitions';
  const counts = new Map<string, number>();
  for (const alert of transitions) counts.set(alert.transition, (counts.get(alert.transition) ?? 0) + 1);
  return `${plural(transitions.length, 'transition')} (${[...counts].map(([type, n]) => `${n} ${type}`).join(', ')})`;
}

export function describeDevices(selector: DeviceSelector): string {
  const parts = [
    selector.ids !== undefined ? selector.ids.join(', ') : '',
    selector.match !== undefined ? `matching ${selector.match}` : '',
    selector.tags !== undefined ? Object.entries(selector.tags).map(([name, value]) => `${name}=${value}`).join(' ') : '',
  ].filter((part) => part !== '');
  return parts.length > 0 ? parts.join('; ') : 'all';
}

/** The webhook by its host only: its path may be the hook's secret. */
export function describeNotify(notify: Rule['notify']): string {
  if (notify === undefined) return '';
  const parts = [
    notify.webhook !== undefined ? `webhook ${new URL(notify.webhook.url).host}` : '',
    notify.device === true ? 'device' : '',
    notify.repeatEvery !== undefined ? `every ${formatDuration(notify.repeatEvery)}` : '',
    notify.minInterval !== undefined ? `at most every ${formatDuration(notify.minInterval)}` : '',
  ].filter((part) => part !== '');
  return parts.join(', ');
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function durationArgument(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration: milliseconds, or e.g. "500ms", "30s", "5m"');
  return ms;
}

function timeArgument(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected an ISO-8601 time, e.g. 2026-11-25T10:00:00Z, or epoch milliseconds');
  return ms;
}
