import { writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { DOCUMENT_FORMATS } from '../../core/reading.js';
import { createDeviceRegistry, type DeviceFormat } from '../../gateway/registry.js';
import { configOrExit, positiveInt } from '../common.js';

function parseFormat(value: string): DeviceFormat | 'auto' {
  if (value === 'auto' || (DOCUMENT_FORMATS as readonly string[]).includes(value)) return value as DeviceFormat | 'auto';
  throw new InvalidArgumentError(`expected one of ${[...DOCUMENT_FORMATS, 'auto'].join(', ')}`);
}

export function registerDevicesCommand(program: Command): void {
  const devices = program.command('devices').description('manage device identities (stored in DATA_DIR, secrets only as hashes)');

  devices
    .command('add')
    .argument('[id]', 'device id (or use --count with --prefix)')
    .option('--count <n>', 'create N devices named <prefix><n>', positiveInt)
    .option('--prefix <p>', 'prefix for --count', 'device-')
    .option('--out <file>', 'write {"<id>": {"secret": "…"}} to this file instead of printing')
    .option('--format <format>', `payload format of devices/{id}/telemetry instead of detection (${DOCUMENT_FORMATS.join(', ')})`, parseFormat)
    .description('register devices and print (or write) their secrets once')
    .action(async (id: string | undefined, options: { count?: number; prefix: string; out?: string; format?: DeviceFormat | 'auto' }) => {
      const config = configOrExit();
      const ids = options.count
        ? Array.from({ length: options.count }, (_, i) => `${options.prefix}${String(i + 1).padStart(String(options.count).length, '0')}`)
        : id
          ? [id]
          : [];
      if (ids.length === 0) program.error('give a device id, or --count N');
      // Hashing is deliberately slow (scrypt): a fleet of thousands takes a while, so show it moving.
      const bar = ids.length > 20 && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'hashing secrets {bar} {value}/{total} devices, eta {eta}s', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
      bar?.start(ids.length, 0);
      const format = options.format === 'auto' ? undefined : options.format;
      const created = await createDeviceRegistry(config.DATA_DIR).add(ids, { ...(format ? { format } : {}), onProgress: (done) => bar?.update(done) });
      bar?.stop();
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
    .description('list registered devices')
    .action(async () => {
      const config = configOrExit();
      for (const device of await createDeviceRegistry(config.DATA_DIR).list()) console.log(`${device.id}\t${device.createdAt}\t${device.format ?? 'auto'}`);
    });

  devices
    .command('set-format')
    .argument('<id>')
    .argument('<format>', `${DOCUMENT_FORMATS.join(', ')} or auto (detect from the content)`, parseFormat)
    .description('force the payload format of devices/{id}/telemetry; applies from the next connection')
    .action(async (id: string, format: DeviceFormat | 'auto') => {
      const config = configOrExit();
      if (!(await createDeviceRegistry(config.DATA_DIR).setFormat(id, format === 'auto' ? undefined : format))) program.error(`no device "${id}"`);
    });

  devices
    .command('remove')
    .argument('<id>')
    .description('remove a device; a connected gateway refuses its next connection')
    .action(async (id: string) => {
      const config = configOrExit();
      if (!(await createDeviceRegistry(config.DATA_DIR).remove(id))) program.error(`no device "${id}"`);
    });
}
