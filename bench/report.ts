import Table from 'cli-table3';
import { describeHit } from './fault-report.js';
import type { BenchReport, GatewayFigures } from './run.js';
import type { SinkFigures } from './sinks.js';

const n = (value: number | null | undefined, digits = 0): string =>
  value === null || value === undefined ? 'n/a' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Each gateway of several, one line each: its devices, connections, memory and CPU. */
export function describeGateways(gateways: readonly GatewayFigures[]): string {
  return gateways
    .map(
      (g) =>
        `#${g.index}: ${n(g.connectedAtStart)} devices at the start, ${n(g.connections)} connections in all${g.failedConnects > 0 ? ` (${n(g.failedConnects)} failed connects handed to another gateway)` : ''}; ` +
        `RSS ${n(g.rssMiB)} MiB (peak ${n(g.rssPeakMiB)}); CPU ${n(g.cpuPerMessageUs)} µs per message${g.restarts > 0 ? `; restarted ${g.restarts}×` : ''}`,
    )
    .join('\n');
}

/**
 * The forward sinks of a run (`--sink`), one row each: forwarded/s beside the run's ingest/s, publish→sink latency,
 * lost and duplicates at the sink's server, and how long it took to drain after the load.
 */
export function formatSinks(sinks: readonly SinkFigures[], ingestPerSec: number): string {
  const table = new Table({
    head: ['forward sink', 'forwarded/s (ingest/s)', 'p50 / p99 (ms)', 'lost', 'duplicates', 'drain (s)', 'messages (distinct)'],
    style: { head: [], border: [] },
  });
  for (const s of sinks) {
    table.push([
      s.sink,
      `${n(s.perSec)} (${n(ingestPerSec)})`,
      `${n(s.latencyMs.p50)} / ${n(s.latencyMs.p99)}`,
      s.lost > 0 ? `${n(s.lost)} (target 0)` : '0',
      n(s.duplicates),
      s.drainS === null ? 'not drained' : n(s.drainS, 1),
      `${n(s.forwarded)} (${n(s.distinct)})`,
    ]);
  }
  return table.toString();
}

/** The human table of one bench run. */
export function formatReport(report: BenchReport): string {
  const table = new Table({ head: ['measure', 'Sluice', 'target / note'], style: { head: [], border: [] } });
  const l = report.latencyMs;
  table.push(
    ['devices × rate', `${n(report.devices)} × ${report.ratePerDevice}/s, QoS ${report.qos}, ${report.durationS} s`, `${report.payloadBytes}-byte JSON, offered ${n(report.offeredPerSec)}/s`],
    ['sent / acked', `${n(report.sent)} / ${n(report.acked)}`, `errors ${n(report.errors)}, throttled ${n(report.throttled)}${report.unacked > 0 ? `, unacked at the end ${n(report.unacked)}` : ''}`],
    ['stored', n(report.stored), `stored but not acked ${n(report.storedNotAcked)}`],
    ['lost / duplicates stored', `${n(report.lost)} / ${n(report.duplicatesStored)}`, `target 0 / 0${report.duplicatesKept === null ? '' : `; at another timestamp (kept by InfluxDB too): ${n(report.duplicatesKept)}`}`],
    ['pushed live', n(report.pushedLive), 'messages of the sampled devices (see notes)'],
    ['ingest (acked/s)', n(report.ingestPerSec), '≥ 20,000/s'],
    ['ack p50 / p99 (ms)', `${n(l.ackP50, 1)} / ${n(l.ackP99, 1)}`, `p99 ≤ 50 ms; max ${n(report.ackMaxMs, 0)}`],
    ['live push p50 / p99 (ms)', `${n(l.livePushP50)} / ${n(l.livePushP99)}`, 'p99 ≤ 250 ms'],
    ['stored p50 / p99 (ms)', `${n(l.storedP50)} / ${n(l.storedP99)}`, 'p99 ≤ 2,000 ms'],
    ['gateway RSS (MiB)', `${n(report.gatewayRssMiB)} (peak ${n(report.gatewayRssPeakMiB)})`, report.gateways > 1 ? `after the load; the largest of the ${report.gateways} gateways` : 'after the load'],
  );
  if (report.perGateway) table.push(['gateways', `${report.gateways} behind the bench's TCP balancer`, describeGateways(report.perGateway)]);
  if (report.disconnects > 0 || report.faults.length > 0) {
    table.push([
      'device disconnects / resent',
      `${n(report.disconnects)} / ${n(report.resent)}`,
      `reconnects ${n(report.reconnects)} (failed attempts ${n(report.reconnectFailures)}, refused ${n(report.errors)}); longest PUBACK wait ${n(report.ackMaxMs)} ms from the first send`,
    ]);
  }
  for (const fault of report.faults) {
    const at = (value: number | null): string => (value === null ? 'never' : `+${value.toFixed(1)} s`);
    const hit = describeHit(fault, 'short');
    const dip = fault.dipStartS === null ? 'ingest never below 95 %' : `ingest min ${n(fault.minPerSec)}/s (${fault.minPct} %), below 95 % for ${fault.dipS === null ? 'the rest of the load' : `${fault.dipS} s`}`;
    table.push([
      `fault ${fault.spec}`,
      `${hit}: ${at(fault.appliedAtS)} → ${at(fault.liftedAtS)}`,
      `${dip}; recovery ${fault.recoveryS !== null ? `${fault.recoveryS} s` : fault.liftedAtS !== null && fault.liftedAtS >= report.durationS ? 'not measured (lifted after the load)' : 'not within the load'}; ${n(fault.disconnects)} disconnects${fault.reconnectedAtS === null ? '' : ` (all back ${at(fault.reconnectedAtS)})`}${fault.storeCaughtUpS === null ? '' : `; store caught up after ${fault.storeCaughtUpS} s`}${fault.error ? `; ${fault.error}` : ''}`,
    ]);
  }
  if (report.faults.length > 0) table.push(['recovery (longest)', report.recoveryS === null ? 'n/a' : `${report.recoveryS} s`, 'to ≥ 95 % of offered for 3 s, from the end of the fault']);
  if (report.cpu) {
    const sluiceUs = Object.entries(report.cpu.perMessageUs)
      .filter(([name]) => !['store', 'bench', 'rest'].includes(name))
      .reduce((sum, [, us]) => sum + us, 0);
    table.push([
      'CPU per message (µs)',
      `Sluice ${n(sluiceUs)}, all ${n(report.cpu.totalPerMessageUs)}`,
      `cores ${n(report.cpu.machineBusyPercent)} % busy; ${Object.entries(report.cpu.perMessageUs).map(([name, us]) => `${name} ${us}`).join(', ')}`,
    ]);
  }
  if (report.rules) {
    const r = report.rules;
    table.push(['rules: alert latency p50 / p99 (ms)', `${n(r.latencyMs.p50)} / ${n(r.latencyMs.p99)}`, `${r.rules} rules; ${n(r.transitions)} probe transitions timed, reading published → on the alerts topic; rules process ${n(r.cpuUsPerMessage)} µs CPU per message`]);
  }
  if (report.idle) {
    table.push(['idle connections', `${n(report.idle.connected)} / ${n(report.idle.devices)}`, `RSS ${n(report.idle.rssBeforeMiB)} → ${n(report.idle.gatewayRssMiB)} MiB (≤ 1,024 for 10,000)`]);
  }
  const m = report.baselines.mosquitto;
  if (m) {
    table.push([
      'Mosquitto QoS 1 pub→sub (/s)',
      n(m.perSec),
      `Sluice = ${report.ratios.vsMosquitto}× (target ≥ 0.8×); ack p99 ${n(m.ackP99, 1)} ms, delivery p99 ${n(m.deliveryP99)} ms`,
    ]);
  }
  const k = report.baselines.kafka;
  if (k) table.push(['raw kafkajs produce (/s)', n(k.perSec), `Sluice = ${report.ratios.vsKafka}×; ${n(k.records)} records, batches of ${k.batchRecords}`]);
  const sinks = report.sinks && report.sinks.length > 0 ? `\n${formatSinks(report.sinks, report.ingestPerSec)}` : '';
  return `${table.toString()}${sinks}\n${report.notes.map((note) => `- ${note}`).join('\n')}`;
}
