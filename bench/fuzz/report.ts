import Table from 'cli-table3';
import type { FuzzReport } from './session.js';

const n = (value: number | null | undefined, digits = 0): string =>
  value === null || value === undefined ? 'n/a' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : n(bytes / (1024 * 1024)));
const counts = (record: Record<string, number>): string =>
  Object.keys(record).length === 0
    ? 'none'
    : Object.entries(record)
        .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
        .map(([key, count]) => `${key}: ${n(count)}`)
        .join(', ');

/** The human table of one fuzz run, then its verdict. */
export function formatFuzzReport(report: FuzzReport, reproduce = `sluice fuzz --seed ${report.seed} --dump LANE:INDEX`): string {
  const { fuzz, good, rss } = report;
  const seconds = fuzz.elapsedMs / 1000;
  const table = new Table({ head: ['measure', 'value', 'note'], style: { head: [], border: [] }, wordWrap: true, colWidths: [26, 44, 60] });
  table.push(
    ['seed / target', `${report.seed} → ${report.target}`, `${report.sockets} sockets, ${n(seconds, 1)} s`],
    ['packets sent', n(fuzz.packetsSent), `${n(fuzz.packetsSent / seconds)}/s, ${mib(fuzz.bytesSent)} MiB`],
    ['by mutation', counts(fuzz.packetsByMutation), 'junk between packets is not counted as packets'],
    ['by type', counts(fuzz.packetsByKind), ''],
    ['connections', `${n(fuzz.connectionsOpened)} opened`, `closed by the gateway ${n(fuzz.closedByServer)}, by the fuzz ${n(fuzz.closedByUs)}, failed to open ${n(fuzz.connectFailures)}`],
    ['floods', `${n(fuzz.floods)}`, `announced huge packets then streamed filler; closed by the gateway ${n(fuzz.floodsClosedByServer)}`],
    ['CONNACK codes', counts(fuzz.connackCodes), `0 would mean a fuzz socket got in: ${fuzz.acceptedBy.length}`],
    ['answers', counts(fuzz.responses), fuzz.unparseableResponses > 0 ? `unparseable ${fuzz.unparseableResponses}` : ''],
    ['socket errors', counts(fuzz.errors), ''],
  );
  if (good) {
    table.push(
      ['good device PUBACKs', `${n(good.acked)} of ${n(good.sent)}`, `${n(good.acksPerS, 1)}/s, failed ${n(good.failed)}, pending ${n(good.pending)}, disconnects ${n(good.disconnects)}`],
      ['PUBACK p50 / p99 / max', `${n(good.ackP50Ms, 1)} / ${n(good.ackP99Ms, 1)} / ${n(good.ackMaxMs, 1)} ms`, `longest gap without a PUBACK ${n(good.maxGapMs)} ms; the timing thread's own event loop delay p99 ${n(report.harnessLoopDelayMs.p99, 1)} ms, max ${n(report.harnessLoopDelayMs.max, 1)} ms`],
    );
  }
  table.push(['gateway RSS (MiB)', `before ${mib(rss.beforeBytes)}, peak ${mib(rss.peakBytes)}, after ${mib(rss.afterBytes)}`, rss.beforeBytes === undefined ? 'give --pid or --metrics-url' : 'sampled every 250 ms']);
  if (report.gatewayRefusals) table.push(['gateway refusals', counts(report.gatewayRefusals), 'growth of its mqtt_refusals_total over the run']);
  if (report.alive) table.push(['gateway alive', report.alive.alive ? 'yes' : 'NO', report.alive.detail]);
  const verdict = report.problems.length === 0 ? 'held: no problem found' : `PROBLEMS:\n  ${report.problems.join('\n  ')}\nprint one connection's bytes again with: ${reproduce}`;
  return `${table.toString()}\n${verdict}`;
}
