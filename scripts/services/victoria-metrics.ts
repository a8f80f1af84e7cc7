/** VictoriaMetrics (Debian's package): accepts the InfluxDB v2 write API. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findCommand } from './debian.js';
import { endpoints, type ServiceSpec, type Settings } from './settings.js';

export function victoriaMetricsSpec(settings: Settings): ServiceSpec {
  const dataDir = join(settings.runDir, 'vm');
  const outFile = join(settings.runDir, 'victoria-metrics.log');
  const { influxUrl } = endpoints(settings);
  const storageFlag = `-storageDataPath=${dataDir}`;
  return {
    name: 'victoria-metrics',
    ports: [settings.influxPort],
    pidFile: join(settings.runDir, 'victoria-metrics.pid'),
    outFile,
    logFiles: [outFile],
    dataPaths: [dataDir, outFile],
    cmdlineMarker: storageFlag,
    startDeadlineMs: 30_000,
    summary: `${influxUrl}, log ${outFile}`,
    async prepare() {
      mkdirSync(dataDir, { recursive: true });
    },
    command: () => ({
      file: findCommand('victoria-metrics') ?? 'victoria-metrics',
      args: [
        `-httpListenAddr=127.0.0.1:${settings.influxPort}`,
        storageFlag,
        // Fresh writes are searchable at once (with /internal/force_flush), not 30 s later.
        '-search.latencyOffset=0s',
        // Keeps one point per series and timestamp, as InfluxDB does (docs/contracts.md §15).
        '-dedup.minScrapeInterval=1ms',
        // Tests write device timestamps from any year; the default retention would drop old ones.
        '-retentionPeriod=100y',
      ],
      cwd: settings.runDir,
    }),
    answers: () => httpAnswersOk(`${influxUrl}/health`),
  };
}

async function httpAnswersOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.ok && (await response.text()).trim() === 'OK';
  } catch {
    return false;
  }
}
