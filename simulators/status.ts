/**
 * The live status line of `sluice simulate` / `sluice demo`: cli-progress on a terminal (one redrawn line), a
 * plain line every few seconds otherwise (logs, CI).
 */
import cliProgress from 'cli-progress';
import type { FleetStats } from './fleet.js';

export interface StatusLine {
  stop(): void;
}

export function formatStatus(stats: FleetStats): string {
  return (
    `connected ${stats.connected}/${stats.devices} | sent ${stats.sent} | acked ${stats.acked} | ` +
    `errors ${stats.errors} | refused ${stats.refused} | ${Math.round(stats.ratePerSec)} msg/s`
  );
}

export function startStatusLine(stats: () => FleetStats, durationS: number | undefined, stream: NodeJS.WriteStream = process.stderr): StatusLine {
  if (!stream.isTTY) {
    const timer = setInterval(() => stream.write(`${formatStatus(stats())}\n`), 5000);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
  const total = durationS ?? 0;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: total > 0 ? '{bar} {elapsed}/{total}s | {status}' : '{elapsed}s | {status}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(total, 1), 0, { status: formatStatus(stats()), elapsed: 0 });
  const timer = setInterval(() => {
    const current = stats();
    const elapsed = Math.floor(current.elapsedMs / 1000);
    bar.update(Math.min(elapsed, Math.max(total, 1)), { status: formatStatus(current), elapsed });
  }, 500);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      bar.stop();
    },
  };
}

export function formatSummary(stats: FleetStats): string {
  const lines = [
    `devices            ${stats.devices} (${stats.connected} connected at the end)`,
    `messages sent      ${stats.sent} (${stats.readingsSent} readings)`,
    `acknowledged       ${stats.acked} (${stats.readingsAcked} readings)`,
    `errors             ${stats.errors}`,
    `skipped offline    ${stats.skipped}`,
    `refused (CONNACK)  ${stats.refused}`,
    `reconnects         ${stats.reconnects}`,
    `abrupt disconnects ${stats.abruptDisconnects}`,
    `faults             malformed ${stats.faults.malformed}, oversized ${stats.faults.oversized}, clock-skewed ${stats.faults.clockSkew}`,
    `elapsed            ${(stats.elapsedMs / 1000).toFixed(1)} s`,
  ];
  return lines.join('\n');
}
