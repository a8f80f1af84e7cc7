import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/ports.js';
import { waitUntil } from './wait.js';

export interface PrivateVictoria {
  url: string;
  /** Stops the process (the data stays), as in a store outage. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

/**
 * A VictoriaMetrics of a test's own, for tests that stop the store or must count points without
 * anyone else's writes. `dedup` = `-dedup.minScrapeInterval=1ms`: one point per series and timestamp,
 * as InfluxDB keeps it; without it every double write shows.
 */
export async function startPrivateVictoria(options: { dedup: boolean }): Promise<PrivateVictoria> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-vm-'));
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    const args = [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${dataDir}`, '-search.latencyOffset=0s', '-retentionPeriod=100y', '-loggerLevel=ERROR'];
    if (options.dedup) args.push('-dedup.minScrapeInterval=1ms');
    const started = spawn('victoria-metrics', args, { stdio: 'ignore' });
    child = started;
    await waitUntil(
      async () => {
        if (started.exitCode !== null) throw new Error(`victoria-metrics exited with ${started.exitCode}`);
        return (await fetch(`${url}/health`).then((r) => r.ok, () => false)) || undefined;
      },
      { timeoutMs: 20_000, what: 'victoria-metrics did not answer' },
    );
  }

  async function stop(): Promise<void> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  }

  await start();
  return {
    url,
    stop,
    start,
    async destroy() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
