import uPlot from 'uplot';
import type { PipelineSnapshot } from '../protocol.js';
import { axes, themeColor } from './chart.js';
import { formatCount, formatRate, h, setText } from './format.js';
import type { View } from './view.js';

/** Pipeline health from `GET /api/pipeline`, polled every POLL_MS while the view is open. */

const POLL_MS = 2000;

function tile(id: string, label: string, unit: string): { el: HTMLElement; value: HTMLElement; note: HTMLElement } {
  const value = h('span', { class: 'tile-value num', id });
  const note = h('span', { class: 'tile-note' });
  const el = h('div', { class: 'tile' }, h('span', { class: 'tile-label' }, label), h('span', { class: 'tile-main' }, value, h('span', { class: 'tile-unit' }, unit)), note);
  return { el, value, note };
}

export function pipelineView(onMode: (mode: PipelineSnapshot['mode']) => void): View {
  const ingest = tile('ingest-rate', 'Ingest', 'readings/s');
  const publishes = tile('publish-rate', 'MQTT publishes', '/s');
  const connected = tile('connected-devices', 'Connected devices', '');
  const ack = tile('ack-latency', 'Ack p50 / p99', 'ms');
  const livePush = tile('live-rate', 'Live feed', 'readings/s');
  const clients = tile('socket-clients', 'Live clients', '');
  const inflight = tile('inflight', 'In flight', 'records');
  const tiles = h('div', { class: 'tiles' }, ...[ingest, publishes, connected, ack, livePush, clients, inflight].map((t) => t.el));

  const banner = h('div', { class: 'banner', id: 'embedded-banner', hidden: '' }, h('strong', {}, 'Embedded mode. '), 'In-process queue and in-memory store: nothing is kept across restarts. Set KAFKA_BROKERS and INFLUX_URL for production.');
  const chartHost = h('div', { class: 'chart-host' });
  const writer = h('div', { class: 'panel-body', id: 'writer-state' });
  const backends = h('ul', { class: 'checks', id: 'backends' });
  const deadLetters = h('table', { class: 'grid-table', id: 'dead-letter-reasons' });
  const lag = h('div', { class: 'panel-body', id: 'consumer-lag' });
  const updated = h('p', { class: 'muted small', id: 'pipeline-updated' });
  const root = h(
    'section',
    { class: 'view pipeline-view' },
    banner,
    tiles,
    h('section', { class: 'panel wide' }, h('h2', {}, 'Ingest rate'), chartHost),
    h(
      'div',
      { class: 'panels' },
      h('section', { class: 'panel' }, h('h2', {}, 'Writer'), writer),
      h('section', { class: 'panel' }, h('h2', {}, 'Backends'), backends),
      h('section', { class: 'panel' }, h('h2', {}, 'Dead letters by reason'), deadLetters),
      h('section', { class: 'panel' }, h('h2', {}, 'Kafka consumer lag'), lag),
    ),
    updated,
  );

  let timer: number | undefined;
  let plot: uPlot | undefined;
  let resize: ResizeObserver | undefined;

  function render(p: PipelineSnapshot): void {
    onMode(p.mode);
    banner.hidden = p.mode !== 'embedded';
    setText(ingest.value, formatRate(p.ingestPerSec));
    setText(publishes.value, formatRate(p.publishesPerSec));
    setText(connected.value, formatCount(p.connectedDevices));
    setText(ack.value, `${p.ackLatencyMs.p50 ?? '–'} / ${p.ackLatencyMs.p99 ?? '–'}`);
    setText(ack.note, p.ackLatencyMs.p50 === null ? 'no publishes recently' : `over the last ${p.ackLatencyMs.windowSec}s`);
    setText(livePush.value, formatRate(p.liveReadingsPerSec));
    setText(clients.value, formatCount(p.socketClients));
    setText(inflight.value, formatCount(p.inflightRecords));
    const roles = new Set(p.roles);
    setText(ingest.note, roles.has('bridge') || roles.has('gateway') ? 'normalized readings' : 'bridge runs in another process');

    const w = p.writer;
    writer.replaceChildren(
      h('p', {}, h('span', { class: `tag tag-writer-${w.state}`, 'data-state': w.state }, w.state === 'absent' ? 'not in this process' : w.state), ` ${formatRate(w.pointsPerSec)} points/s`),
      ...(w.lastError ? [h('p', { class: 'error-text' }, w.lastError)] : []),
      ...(w.retriesPerSec > 0 ? [h('p', { class: 'muted' }, `${formatRate(w.retriesPerSec)} retries/s`)] : []),
    );

    backends.replaceChildren(
      ...Object.entries(p.backends).map(([name, ok]) =>
        h('li', { 'data-ok': String(ok) }, h('span', { class: 'dot' }), h('span', { class: 'mono' }, name), h('span', { class: 'muted' }, ok ? 'reachable' : 'unreachable')),
      ),
    );

    const reasons = Object.entries(p.deadLetters.byReason).sort((a, b) => b[1] - a[1]);
    deadLetters.replaceChildren(
      h('thead', {}, h('tr', {}, h('th', {}, 'Reason'), h('th', { class: 'num' }, 'Count'))),
      h(
        'tbody',
        {},
        ...(reasons.length === 0
          ? [h('tr', {}, h('td', { class: 'muted', colspan: '2' }, 'None since start.'))]
          : reasons.map(([code, count]) => h('tr', {}, h('td', { class: 'mono' }, code), h('td', { class: 'num' }, formatCount(count))))),
      ),
    );

    if (!p.lag.available) {
      lag.replaceChildren(h('p', { class: 'muted' }, p.lag.note ?? 'not available'));
    } else {
      lag.replaceChildren(
        ...p.lag.groups.map((g) =>
          h(
            'div',
            { class: 'lag-group' },
            h('p', {}, h('span', { class: 'mono' }, g.groupId), h('span', { class: 'muted' }, ` on ${g.topic} · total lag `), h('strong', { class: 'num' }, formatCount(g.totalLag))),
            h(
              'table',
              { class: 'grid-table' },
              h('thead', {}, h('tr', {}, h('th', {}, 'Partition'), h('th', { class: 'num' }, 'Committed'), h('th', { class: 'num' }, 'End'), h('th', { class: 'num' }, 'Lag'))),
              h('tbody', {}, ...g.partitions.map((q) => h('tr', {}, h('td', { class: 'num' }, String(q.partition)), h('td', { class: 'num' }, q.committed ?? '–'), h('td', { class: 'num' }, q.end), h('td', { class: 'num' }, formatCount(q.lag))))),
            ),
          ),
        ),
      );
    }

    const data: uPlot.AlignedData = [p.history.at, p.history.ingestPerSec];
    if (!plot) {
      const accent = themeColor('--accent', '#2563eb');
      plot = new uPlot(
        {
          width: Math.max(200, chartHost.clientWidth),
          height: 160,
          legend: { show: false },
          scales: { x: { time: true } },
          axes: axes(60),
          series: [{}, { label: 'readings/s', stroke: accent, width: 1.5, fill: `${accent}1a`, points: { show: false } }],
        },
        data,
        chartHost,
      );
    } else {
      plot.setData(data);
    }
    setText(updated, `Updated ${new Date(p.at).toLocaleTimeString()} · uptime ${formatCount(p.uptimeSec)} s · roles ${p.roles.join(', ')}`);
  }

  async function poll(): Promise<void> {
    try {
      const response = await fetch('/api/pipeline');
      if (response.status === 401) return window.location.assign('/login');
      if (response.ok) render((await response.json()) as PipelineSnapshot);
    } finally {
      timer = window.setTimeout(() => void poll(), POLL_MS);
    }
  }

  return {
    root,
    mount() {
      void poll();
      resize = new ResizeObserver(() => plot?.setSize({ width: Math.max(200, chartHost.clientWidth), height: 160 }));
      resize.observe(chartHost);
    },
    unmount() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      resize?.disconnect();
      plot?.destroy();
      plot = undefined;
    },
  };
}
