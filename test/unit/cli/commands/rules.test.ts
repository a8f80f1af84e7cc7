import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRules, listRules, registerRulesCommand, testRules, type CommandIo } from '../../../../cli/commands/rules.js';
import { alertIdOf } from '../../../../core/records.js';

const demoRules = join(import.meta.dirname, '..', '..', '..', '..', 'rules', 'examples', 'demo-rules.yaml');
const T0 = Date.UTC(2024, 0, 1, 12);
const at = (seconds: number): number => T0 + seconds * 1000;

const RULES = `rules:
  - id: warm
    description: Room too warm
    severity: warning
    condition: { type: threshold, metrics: [temperature], above: 24, clearAt: 23 }
    notify:
      webhook: { url: "https://hooks.example.com/services/T0/SECRET" }
      repeatEvery: 15m
  - id: humid
    description: Humid on average
    severity: info
    enabled: false
    devices: { match: "room-*" }
    condition: { type: window, metric: humidity, aggregate: avg, window: 1m, above: 60 }
`;

const INVALID = `rules:
  - id: warm
    description: Room too warm
    severity: warning
    condition: { type: threshold, metrics: [temperature], above: 24, clearAt: 25 }
  - id: humid
    severity: loud
    condition: { type: window, metric: humidity, aggregate: avg, window: 1m, above: 60, maxSamples: 100 }
`;

let dir: string;
const file = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-rules-cli-'));
  await writeFile(file('rules.yaml'), RULES);
  await writeFile(file('invalid.yaml'), INVALID);
  const line = (record: Record<string, unknown>): string => JSON.stringify(record);
  await writeFile(
    file('readings.ndjson'),
    [
      line({ metric: 'temperature', value: 22, ts: at(0) }),
      line({ metric: 'temperature', value: 25, ts: at(10) }),
      line({ deviceId: 'someone-else', metric: 'temperature', value: 99, ts: at(11) }),
      line({ metric: 'temperature', value: 22, ts: at(50) }),
      'not json',
      line({ metric: 'temperature', value: 30, ts: at(1) }),
    ].join('\n'),
  );
  await writeFile(file('others.ndjson'), [line({ deviceId: 'dev-1', metric: 'temperature', value: 30, ts: at(0) }), line({ deviceId: 'dev-1', metric: 'temperature', value: 20, ts: at(1) })].join('\n'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sluice rules check', () => {
  it('says a valid file is valid in one line, exit code 0', async () => {
    expect(await checkRules(demoRules)).toEqual({ exitCode: 0, out: [`${demoRules}: valid, 9 rules`], err: [] });
    expect((await checkRules(file('rules.yaml'))).out).toEqual([`${file('rules.yaml')}: valid, 2 rules (1 disabled)`]);
  });

  it('prints every problem with its line, rule and field, then a count; exit code 1', async () => {
    const result = await checkRules(file('invalid.yaml'));
    expect(result.exitCode).toBe(1);
    const where = file('invalid.yaml');
    expect(result.out).toEqual([
      `${where}:5: rules[0] (warm): condition.clearAt: must be below raiseAt for "above" (clearAt 25 > above 24)`,
      expect.stringMatching(new RegExp(`^${escape(where)}:6: rules\\[1\\] \\(humid\\): description: required$`)),
      expect.stringMatching(new RegExp(`^${escape(where)}:7: rules\\[1\\] \\(humid\\): severity: .*"info"`)),
      expect.stringMatching(new RegExp(`^${escape(where)}:8: rules\\[1\\] \\(humid\\): condition: .*maxSamples`)),
      `${where}: invalid, 4 problems in 2 rules`,
    ]);
  });

  it('says why it cannot read a file; exit code 1', async () => {
    const result = await checkRules(file('missing.yaml'));
    expect(result).toMatchObject({ exitCode: 1, out: [] });
    expect(result.err).toEqual([expect.stringMatching(/^cannot read .*missing\.yaml: ENOENT/)]);
  });
});

describe('sluice rules test', () => {
  it('prints each transition, then a summary with what was left out; exit code 0', async () => {
    const result = await testRules(file('rules.yaml'), { device: 'dev-1', readings: file('readings.ndjson'), latenessMs: 5000 });
    const id = alertIdOf('warm', 'dev-1', at(10));
    expect(result).toEqual({
      exitCode: 0,
      out: [
        `2024-01-01T12:00:10.000Z RAISED warning warm dev-1 temperature=25 [${id}#1]`,
        `2024-01-01T12:00:50.000Z CLEARED warning warm dev-1 temperature=22 [${id}#2]`,
        '2 transitions (1 raised, 1 cleared) for dev-1 from readings.ndjson; 1 reading later than the allowed lateness (5s) left out; 1 record of other devices left out; 1 line not read',
      ],
      err: [`${file('readings.ndjson')}: line 5: not JSON`],
    });
  });

  it('says so when nothing happens', async () => {
    const result = await testRules(file('rules.yaml'), { device: 'nobody', readings: file('others.ndjson') });
    expect(result).toEqual({ exitCode: 0, out: ['no transitions for nobody from others.ndjson; 2 records of other devices left out'], err: [] });
  });

  it('refuses an invalid rules file as check does, and an unreadable readings file', async () => {
    expect(await testRules(file('invalid.yaml'), { device: 'dev-1', readings: file('readings.ndjson') })).toMatchObject({ exitCode: 1, out: expect.arrayContaining([`${file('invalid.yaml')}: invalid, 4 problems in 2 rules`]) });
    expect(await testRules(file('rules.yaml'), { device: 'dev-1', readings: file('nope.ndjson') })).toMatchObject({ exitCode: 1, err: [expect.stringMatching(/^cannot read .*nope\.ndjson/)] });
  });
});

describe('sluice rules list', () => {
  it('shows the rules as a table: id, severity, on, devices, condition, notify (a webhook by its host only)', async () => {
    const result = await listRules(file('rules.yaml'));
    expect(result.exitCode).toBe(0);
    const [table, summary] = result.out;
    expect(summary).toBe(`2 rules (1 disabled) in ${file('rules.yaml')}`);
    const rows = (table ?? '').split('\n').filter((row) => /^│ \w/.test(row)).map((row) => row.split('│').slice(1, -1).map((cell) => cell.trim()));
    expect(rows).toEqual([
      ['id', 'severity', 'on', 'devices', 'condition', 'notify'],
      ['warm', 'warning', 'yes', 'all', 'temperature above 24, clears at 23', 'webhook hooks.example.com, every 15m'],
      ['humid', 'info', 'no', 'matching room-*', 'avg of humidity over a sliding 1m window above 60', ''],
    ]);
    expect(table).not.toContain('SECRET');
  });

  it('takes a missing file as no rules, and an invalid one as an error', async () => {
    expect(await listRules(file('missing.yaml'))).toEqual({ exitCode: 0, out: [`no rules file at ${file('missing.yaml')}: no rules run (write one there, or point RULES_FILE at one)`], err: [] });
    expect(await listRules(file('invalid.yaml'))).toMatchObject({ exitCode: 1, out: expect.arrayContaining([expect.stringContaining('clearAt')]) });
  });
});

describe('sluice rules, as commander parses it', () => {
  function cli(): { program: Command; io: CommandIo; lines: string[]; errors: string[]; codes: number[] } {
    const lines: string[] = [];
    const errors: string[] = [];
    const codes: number[] = [];
    const program = new Command().exitOverride().configureOutput({ writeErr: (text) => void errors.push(text.trim()), writeOut: () => undefined });
    const io: CommandIo = { out: (line) => void lines.push(line), err: (line) => void errors.push(line), exit: (code) => void codes.push(code) };
    registerRulesCommand(program, io);
    return { program, io, lines, errors, codes };
  }

  it('runs check with exit code 1 for an invalid file and 0 for a valid one', async () => {
    const invalid = cli();
    await invalid.program.parseAsync(['rules', 'check', file('invalid.yaml')], { from: 'user' });
    expect(invalid.codes).toEqual([1]);
    expect(invalid.lines.at(-1)).toBe(`${file('invalid.yaml')}: invalid, 4 problems in 2 rules`);
    const valid = cli();
    await valid.program.parseAsync(['rules', 'check', demoRules], { from: 'user' });
    expect([valid.codes, valid.lines]).toEqual([[0], [`${demoRules}: valid, 9 rules`]]);
  });

  it('runs test with --device, --readings and --lateness as a duration', async () => {
    const run = cli();
    await run.program.parseAsync(['rules', 'test', file('rules.yaml'), '--device', 'dev-1', '--readings', file('readings.ndjson'), '--lateness', '5s'], { from: 'user' });
    expect(run.codes).toEqual([0]);
    expect(run.lines).toHaveLength(3);
    expect(run.lines[2]).toContain('(5s) left out');
  });

  it('refuses a lateness that is not a duration, and a test without --device', async () => {
    const badLateness = cli();
    await expect(badLateness.program.parseAsync(['rules', 'test', file('rules.yaml'), '--device', 'd', '--readings', 'r', '--lateness', 'soon'], { from: 'user' })).rejects.toBeInstanceOf(CommanderError);
    expect(badLateness.errors.join('\n')).toMatch(/expected a duration/);
    const noDevice = cli();
    await expect(noDevice.program.parseAsync(['rules', 'test', file('rules.yaml'), '--readings', 'r'], { from: 'user' })).rejects.toBeInstanceOf(CommanderError);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
