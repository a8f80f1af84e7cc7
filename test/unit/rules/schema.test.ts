import { describe, expect, it } from 'vitest';
import { formatRuleFileError, parseRuleFile, type RuleFileResult } from '../../../rules/schema.js';

/** The errors of a file as the operator reads them. */
function problems(result: RuleFileResult): string[] {
  return result.ok ? [] : result.errors.map(formatRuleFileError);
}

const file = (...rules: string[]): string => `rules:\n${rules.join('')}`;
const warm = (condition: string, id = 'freezer-warm'): string =>
  `  - id: ${id}\n    description: warm\n    severity: critical\n    condition:\n${condition
    .split('\n')
    .map((line) => `      ${line}`)
    .join('\n')}\n`;
const threshold = 'type: threshold\nmetrics: [temperature]\nabove: 80';

describe('parseRuleFile', () => {
  it('reads a valid file, with defaults and durations in ms', () => {
    const result = parseRuleFile(file(warm(`${threshold}\nclearAt: 75\nfor: 10s`)), 'rules.yaml');
    expect(result).toEqual({
      ok: true,
      rules: [
        {
          id: 'freezer-warm',
          description: 'warm',
          severity: 'critical',
          devices: {},
          enabled: true,
          condition: { type: 'threshold', metrics: ['temperature'], above: 80, clearAt: 75, for: 10_000 },
        },
      ],
    });
  });

  it('reads JSON too', () => {
    const json = JSON.stringify({ rules: [{ id: 'a', description: 'd', severity: 'info', condition: { type: 'silence', after: 30000 } }] });
    expect(parseRuleFile(json, 'rules.json')).toMatchObject({ ok: true, rules: [{ id: 'a', condition: { after: 30_000 } }] });
  });

  it.each([
    ['clearAt on the wrong side of the bound', file(warm(`${threshold}\nclearAt: 85`)), 'rules.yaml:9: rules[0] (freezer-warm): condition.clearAt: must be below raiseAt for "above" (clearAt 85 > above 80)'],
    ['clearAt on the wrong side of a below bound', file(warm('type: threshold\nmetrics: [t]\nbelow: 5\nclearAt: 2')), 'rules[0] (freezer-warm): condition.clearAt: must be above raiseAt for "below"'],
    ['both above and below', file(warm('type: threshold\nmetrics: [t]\nabove: 1\nbelow: 0')), 'rules[0] (freezer-warm): condition.above: give exactly one of "above" or "below"'],
    ['no metrics', file(warm('type: threshold\nmetrics: []\nabove: 1')), 'rules[0] (freezer-warm): condition.metrics: Too small'],
    ['a rule without an id, named by its index', file(warm(threshold), '  - description: x\n    severity: info\n    condition: { type: silence, after: 1s }\n'), 'rules.yaml:9: rules[1]: id: required'],
    ['a bad slug', file(warm(threshold, 'Freezer Warm')), 'rules[0] (Freezer Warm): id: a slug'],
    ['an unknown condition type', file(warm('type: magic')), "rules[0] (freezer-warm): condition.type: Invalid discriminator value. Expected 'threshold'"],
    ['a bad duration', file(warm('type: silence\nafter: soon')), 'rules[0] (freezer-warm): condition.after: not a duration'],
    ['a zero duration where time must pass', file(warm('type: silence\nafter: 0')), 'condition.after: must be longer than 0'],
    ['countAbove without bound', file(warm('type: window\nmetric: h\naggregate: countAbove\nwindow: 1m\nabove: 3')), 'condition.bound: "countAbove" needs a "bound"'],
    ['bound on an aggregate that takes none', file(warm('type: window\nmetric: h\naggregate: avg\nbound: 3\nwindow: 1m\nabove: 3')), 'condition.bound: only "countAbove" and "countBelow" take a "bound"'],
    ['a rate of 0', file(warm('type: rate\nmetric: h\nperMinute: 0')), 'condition.perMinute: must not be 0'],
    ['a count out of range', file(warm('type: deadletters\ncount: 0\nwindow: 1m')), 'condition.count: Too small'],
    ['a misspelt field', file(warm(`${threshold}\nclearat: 75`)), 'rules[0] (freezer-warm): condition: Unrecognized key: "clearat"'],
    ['an unknown severity', file(warm(threshold).replace('critical', 'panic')), 'rules[0] (freezer-warm): severity: Invalid option'],
    ['a webhook url that is not one', file(warm(threshold), '    notify:\n      webhook:\n        url: not a url\n'), 'rules[0] (freezer-warm): notify.webhook.url: Invalid URL'],
    ['a duplicate id', file(warm(threshold), warm(threshold)), 'rules.yaml:9: rules[1] (freezer-warm): id: duplicate id: rules[0] has it too'],
    ['no rules list', 'rule: []\n', 'rules.yaml:1: rules: Invalid input: expected array'],
    ['an empty file', '', 'rules.yaml: empty: expected { rules: [...] }'],
  ])('names rule and field: %s', (_name, text, expected) => {
    const found = problems(parseRuleFile(text, 'rules.yaml'));
    expect(found).toEqual(expect.arrayContaining([expect.stringContaining(expected)]));
  });

  it('reports every problem of every rule at once', () => {
    const text = file(warm(`${threshold}\nclearAt: 85`, 'a'), warm('type: silence\nafter: soon', 'b'));
    expect(problems(parseRuleFile(text, 'rules.yaml'))).toEqual([
      expect.stringContaining('rules[0] (a): condition.clearAt'),
      expect.stringContaining('rules[1] (b): condition.after'),
    ]);
  });

  it.each([
    ['a bad indent', 'rules:\n  - id: a\n   description: x\n', 'rules.yaml:3: invalid YAML'],
    ['an unclosed flow sequence', 'rules: [\n', 'rules.yaml:2: invalid YAML'],
    ['a duplicate key', 'rules: []\nrules: []\n', 'rules.yaml:2: invalid YAML: Map keys must be unique'],
  ])('reports invalid YAML with its line: %s', (_name, text, expected) => {
    const found = problems(parseRuleFile(text, 'rules.yaml'));
    expect(found[0]).toContain(expected);
  });
});
