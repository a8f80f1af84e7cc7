import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { sluiceBin, tempDataDir } from '../support/sluice-process.js';

const execFileAsync = promisify(execFile);

describe('sluice bench', () => {
  const kafkaBrokers = inject('kafkaBrokers');

  it('runs a small load end to end and writes the DESIGN §2 JSON with nothing lost', async () => {
    const out = join(await tempDataDir('sluice-bench-test-'), 'bench.json');
    const { stdout } = await execFileAsync(
      process.execPath,
      [sluiceBin, 'bench', '--devices', '50', '--rate', '5', '--duration', '3', '--qos', '1', '--json', out, '--store-wait', '30'],
      { env: { ...process.env, KAFKA_BROKERS: kafkaBrokers }, timeout: 80_000 },
    );
    expect(stdout).toContain('ingest (acked/s)');
    const report = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown> & { latencyMs: Record<string, unknown> };
    expect(report).toMatchObject({ devices: 50, qos: 1, durationS: 3 });
    for (const key of ['sent', 'acked', 'stored', 'lost', 'duplicatesStored', 'ingestPerSec', 'gatewayRssMiB']) {
      expect(report[key], key).toBeTypeOf('number');
    }
    for (const key of ['ackP50', 'ackP99', 'livePushP50', 'livePushP99', 'storedP50', 'storedP99']) {
      expect(key in report.latencyMs, key).toBe(true);
    }
    expect(report.sent).toBe(750);
    expect(report.acked).toBe(750);
    expect(report.lost).toBe(0);
    expect(report.stored as number).toBeGreaterThanOrEqual(750);
    expect(report.gatewayRssMiB as number).toBeGreaterThan(10);
  });
});
