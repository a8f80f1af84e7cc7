import { readFile, writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { DOCUMENT_FORMATS, type DocumentFormat } from '../../core/reading.js';
import { createLogger } from '../../core/logger.js';
import type { DeviceRegistry, StoredRegistration } from '../../core/seams.js';
import { decodeRegistration } from '../../core/registry/record.js';
import { registryPath } from '../../core/registry/file-backing.js';
import { configOrExit, positiveInt } from '../common.js';
import { openRegistryAlone } from '../registry.js';

function parseFormat(value: string): DocumentFormat | 'auto' {
  if (value === 'auto' || (DOCUMENT_FORMATS as readonly string[]).includes(value)) return value as DocumentFormat | 'auto';
  throw new InvalidArgumentError(`expected one of ${[...DOCUMENT_FORMATS, 'auto'].join(', ')}`);
}

/** Runs one registry command against this deployment's registry (Kafka with KAFKA_BROKERS, else DATA_DIR), then closes it. */
async function withRegistry<T>(use: (registry: DeviceRegistry) => Promise<T>): Promise<T> {
  const config = configOrExit();
  // Log lines go to stderr: stdout carries what the command prints (secrets, the list).
  const registry = await openRegistryAlone(config, createLogger(config.LOG_LEVEL === 'debug' ? 'debug' : 'warn', { destination: process.stderr }));
  try {
    return await use(registry);
  } finally {
    await registry.close();
  }
}

export function registerDevicesCommand(program: Command): void {
  const devices = program
    .command('devices')
    .description('manage device identities: in the Kafka topic {KAFKA_TOPIC_PREFIX}.devices with KAFKA_BROKERS, else in DATA_DIR/devices.json; secrets only as hashes');

  devices
    .command('add')
    .argument('[id]', 'device id (or use --count with --prefix)')
    .option('--count <n>', 'create N devices named <prefix><n>', positiveInt)
    .option('--prefix <p>', 'prefix for --count', 'device-')
    .option('--out <file>', 'write {"<id>": {"secret": "…"}} to this file instead of printing')
    .option('--format <format>', `payload format of devices/{id}/telemetry instead of detection (${DOCUMENT_FORMATS.join(', ')})`, parseFormat)
    .option('--secret <secret>', 'use this secret (one device only) instead of a generated one; kept with scrypt, as a person chose it')
    .description('register devices (again: a new secret) and print (or write) their secrets once')
    .action(async (id: string | undefined, options: { count?: number; prefix: string; out?: string; format?: DocumentFormat | 'auto'; secret?: string }) => {
      const ids = options.count
        ? Array.from({ length: options.count }, (_, i) => `${options.prefix}${String(i + 1).padStart(String(options.count).length, '0')}`)
        : id
          ? [id]
          : [];
      if (ids.length === 0) program.error('give a device id, or --count N');
      if (options.secret !== undefined && ids.length !== 1) program.error('--secret registers one device: every device needs a secret of its own');
      const bar = ids.length > 2000 && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'registering {bar} {value}/{total} devices, eta {eta}s', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
      const format = options.format === 'auto' ? undefined : options.format;
      const created = await withRegistry(async (registry) => {
        bar?.start(ids.length, 0);
        try {
          return await registry.add(ids, {
            ...(format ? { format } : {}),
            ...(options.secret !== undefined ? { secret: { value: options.secret, origin: 'chosen' as const } } : {}),
            onProgress: (done) => bar?.update(done),
          });
        } finally {
          bar?.stop();
        }
      });
      const credentials = Object.fromEntries(created.map((c) => [c.id, { secret: c.secret }]));
      if (options.out) {
        await writeFile(options.out, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
        console.error(`registered ${created.length} device(s); secrets written to ${options.out}`);
      } else {
        for (const c of created) console.log(`${c.id}\t${c.secret}`);
      }
    });

  devices
    .command('list')
    .option('--json', 'one JSON object per line')
    .description('list registered devices: id, created, payload format, enabled, secret hash scheme')
    .action(async (options: { json?: boolean }) => {
      for (const device of await withRegistry(async (registry) => registry.list())) {
        if (options.json) console.log(JSON.stringify(device));
        else console.log([device.id, device.createdAt, device.format ?? 'auto', device.disabled ? 'disabled' : 'enabled', device.secretHash].join('\t'));
      }
    });

  devices
    .command('set-format')
    .argument('<id>')
    .argument('<format>', `${DOCUMENT_FORMATS.join(', ')} or auto (detect from the content)`, parseFormat)
    .description('force the payload format of devices/{id}/telemetry; applies from the next connection')
    .action(async (id: string, format: DocumentFormat | 'auto') => {
      if (!(await withRegistry((registry) => registry.setFormat(id, format === 'auto' ? undefined : format)))) program.error(`no device "${id}"`);
    });

  devices
    .command('remove')
    .argument('<id>')
    .description('remove a device: every gateway closes its session (reason "removed") and refuses it from then on')
    .action(async (id: string) => {
      if (!(await withRegistry((registry) => registry.remove(id)))) program.error(`no device "${id}"`);
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    devices
      .command(name)
      .argument('<id>')
      .description(disabled ? 'refuse a device (CONNACK 5) and close its sessions on every gateway (reason "disabled"), keeping its registration' : 'let a disabled device connect again')
      .action(async (id: string) => {
        if (!(await withRegistry((registry) => registry.setDisabled(id, disabled)))) program.error(`no device "${id}"`);
      });
  }

  devices
    .command('import')
    .argument('<file>', 'a devices.json as embedded mode keeps it (DATA_DIR/devices.json)')
    .description('copy the registrations of a devices.json (hashes as they are: the devices keep their secrets) into this registry')
    .action(async (file: string) => {
      const registrations = await readRegistrations(file).catch((error: unknown) => program.error(`${file}: ${(error as Error).message}`));
      const imported = await withRegistry(async (registry) => {
        if (registry.kind === 'file' && (await sameFile(file, registryPath(configOrExit().DATA_DIR)))) program.error(`${file} is this registry already`);
        return registry.import(registrations.valid);
      });
      for (const [id, problem] of registrations.invalid) console.error(`skipped ${id}: ${problem}`);
      console.error(`imported ${imported} device(s)${registrations.invalid.length > 0 ? `, skipped ${registrations.invalid.length}` : ''}`);
      if (registrations.invalid.length > 0) process.exitCode = 1;
    });
}

async function readRegistrations(file: string): Promise<{ valid: Record<string, StoredRegistration>; invalid: [string, string][] }> {
  const parsed = JSON.parse(await readFile(file, 'utf8')) as { devices?: unknown } | null;
  const entries = parsed?.devices;
  if (typeof entries !== 'object' || entries === null) throw new Error('no "devices" object (expected {"version": 1, "devices": {…}})');
  const valid: Record<string, StoredRegistration> = {};
  const invalid: [string, string][] = [];
  for (const [id, value] of Object.entries(entries)) {
    const registration = decodeRegistration(value);
    if ('problem' in registration) invalid.push([id, registration.problem]);
    else valid[id] = registration;
  }
  return { valid, invalid };
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const { realpath } = await import('node:fs/promises');
  const [ra, rb] = await Promise.all([realpath(a).catch(() => a), realpath(b).catch(() => b)]);
  return ra === rb;
}
