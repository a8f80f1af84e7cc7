import uPlot from 'uplot';
import type { PipelineSnapshot, RulesPipelineReport, Severity, SinkReport } from '../protocol.js';
import { axes, themeColor } from './chart.js';
import { backendStates, BLANK, clockTime, agoText, liveText, pipelineIsFresh, type LinkState, type PollOutcome } from './connection.js';
import { formatCount, formatRate, h, setText } from './format.js';
import { signInAgain, type Live } from './live.js';
import type { View } from './view.js';

/**
 * Pipeline health from `GET /api/pipeline`, polled every POLL_MS while the view is open (and only then). A failed
 * poll keeps the loop going and shows what is unknown as unknown; so does a lost live link.
 */

const POLL_MS = 2000;
/** A poll that has not answered by then counts as failed (a stopped server can leave a request hanging). */
const POLL_TIMEOUT_MS = 5000;

function tile(id: string, label: string, unit: string): { el: HTMLElement; value: HTMLElement; note: HTMLElement } {
  const value = h('span', { class: 'tile-value num', id });
  const note = h('span', { class: 'tile-note' });
  const el = h('div', { class: 'tile' }, h('span', { class: 'tile-label' }, label), h('span', { class: 'tile-main' }, value, h('span', { class: 'tile-unit' }, unit)), note);
  return { el, value, note };
}

export function pipelineView(live: Live, onMode: (mode: PipelineSnapshot['mode']) => void): View {
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
  const sinksBody = h('div', { class: 'panel-body', id: 'sinks' });
  const sinksPanel = h('section', { class: 'panel wide', id: 'sinks-pipeline', hidden: '' }, h('h2', {}, 'Forward sinks'), sinksBody);
  const rulesBody = h('div', { class: 'panel-body rules-body' });
  const rulesPanel = h('section', { class: 'panel wide', id: 'rules-pipeline', hidden: '' }, h('h2', {}, 'Rules'), rulesBody);
  const updated = h('p', { class: 'muted small', id: 'pipeline-updated' });
  const root = h(
    'section',
    { class: 'view pipeline-view' },
    banner,
    tiles,
    h('section', { class: 'panel wide' }, h('h2', {}, 'Ingest rate'), chartHost),
    sinksPanel,
    rulesPanel,
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
  let pending: AbortController | undefined;
  /** Asked to poll while a request was out: poll again as soon as it ends. */
  let again = false;
  let active = false;
  let plot: uPlot | undefined;
  let resize: ResizeObserver | undefined;
  let off: (() => void) | undefined;
  let last: PipelineSnapshot | undefined;
  let lastOkAt: number | undefined;
  let lastError = '';
  let poll: PollOutcome = 'none';
  let link: LinkState = live.state();

  const tileValues = [ingest, publishes, connected, ack, livePush, clients, inflight];

  function paint(): void {
    const fresh = pipelineIsFresh(link, poll);
    root.classList.toggle('stale', !fresh);
    root.dataset.fresh = String(fresh);
    if (last) render(last, fresh);
    else for (const t of tileValues) setText(t.value, BLANK);
    const rows = backendStates(last?.backends, fresh);
    const waiting = poll === 'none' && link !== 'lost';
    backends.replaceChildren(
      ...(rows.length === 0
        ? [h('li', { 'data-ok': 'unknown' }, h('span', { class: 'dot' }), h('span', { class: 'muted' }, waiting ? 'loading…' : 'no answer from Sluice yet'), h('span', {}))]
        : rows.map(({ name, state }) =>
            h('li', { 'data-ok': state === 'reachable' ? 'true' : state === 'unreachable' ? 'false' : 'unknown', 'data-backend': name }, h('span', { class: 'dot' }), h('span', { class: 'mono' }, name), h('span', { class: 'muted' }, state)),
          )),
    );
    if (fresh && last) {
      setText(updated, `Updated ${clockTime(last.at)} · uptime ${formatCount(last.uptimeSec)} s · roles ${last.roles.join(', ')}`);
    } else if (waiting) {
      setText(updated, 'Loading…');
    } else {
      const why = link === 'lost' ? 'live connection lost' : lastError || 'waiting for Sluice';
      const asOf = lastOkAt === undefined ? 'no data yet' : `data as of ${clockTime(lastOkAt)} (${agoText(Date.now() - lastOkAt)} ago)`;
      setText(updated, `Not current: ${why} · ${asOf}`);
    }
  }

  function render(p: PipelineSnapshot, fresh: boolean): void {
    onMode(p.mode);
    banner.hidden = p.mode !== 'embedded';
    setText(ingest.value, liveText(formatRate(p.ingestPerSec), fresh));
    setText(publishes.value, liveText(formatRate(p.publishesPerSec), fresh));
    setText(connected.value, liveText(formatCount(p.connectedDevices), fresh));
    setText(ack.value, liveText(`${p.ackLatencyMs.p50 ?? '–'} / ${p.ackLatencyMs.p99 ?? '–'}`, fresh));
    setText(ack.note, !fresh ? '' : p.ackLatencyMs.p50 === null ? 'no publishes recently' : `over the last ${p.ackLatencyMs.windowSec}s`);
    setText(livePush.value, liveText(formatRate(p.liveReadingsPerSec), fresh));
    setText(clients.value, liveText(formatCount(p.socketClients), fresh));
    setText(inflight.value, liveText(formatCount(p.inflightRecords), fresh));
    const roles = new Set(p.roles);
    setText(ingest.note, roles.has('bridge') || roles.has('gateway') ? 'normalized readings' : 'bridge runs in another process');

    const w = p.writer;
    writer.replaceChildren(
      fresh
        ? h('p', {}, h('span', { class: `tag tag-writer-${w.state}`, 'data-state': w.state }, w.state === 'absent' ? 'not in this process' : w.state), ` ${formatRate(w.pointsPerSec)} points/s`)
        : h('p', {}, h('span', { class: 'tag tag-writer-unknown', 'data-state': 'unknown' }, 'unknown'), ` ${BLANK} points/s`),
      ...(fresh && w.lastError ? [h('p', { class: 'error-text' }, w.lastError)] : []),
      ...(fresh && w.retriesPerSec > 0 ? [h('p', { class: 'muted' }, `${formatRate(w.retriesPerSec)} retries/s`)] : []),
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

    sinksPanel.hidden = p.sinks.length === 0;
    if (p.sinks.length > 0) renderSinks(p.sinks, fresh);

    rulesPanel.hidden = p.rules === undefined;
    if (p.rules) renderRules(p.rules, fresh);

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
  }

  /** One row per forward sink: its state, how fast it delivers, how far behind it is, and why it fails. */
  function renderSinks(sinks: SinkReport[], fresh: boolean): void {
    const count = (v: number | null) => (v === null ? '–' : formatCount(v));
    const seconds = (v: number | null) => (v === null ? '–' : v < 10 ? `${v.toFixed(1)} s` : `${formatCount(Math.round(v))} s`);
    sinksBody.replaceChildren(
      h(
        'table',
        { class: 'grid-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Sink'), h('th', {}, 'State'), h('th', { class: 'num' }, 'Delivered /s'), h('th', { class: 'num' }, 'Lag (records)'), h('th', { class: 'num' }, 'Lag (time)'), h('th', { class: 'num' }, 'Refused'), h('th', {}, 'Last error'))),
        h(
          'tbody',
          {},
          ...sinks.map((s) => {
            const state = fresh ? s.state : 'unknown';
            const label = state === 'elsewhere' ? 'in another process' : state;
            const error = s.lastError ?? (s.connection && !s.connection.connected ? s.connection.note : undefined);
            return h(
              'tr',
              { 'data-sink': s.sink, 'data-state': state },
              h('td', {}, h('strong', {}, s.sink), h('br', {}), h('span', { class: 'mono muted small' }, s.groupId)),
              h('td', {}, h('span', { class: `tag tag-writer-${state === 'elsewhere' ? 'absent' : state}` }, label)),
              h('td', { class: 'num' }, s.recordsPerSec === null ? '–' : liveText(formatRate(s.recordsPerSec), fresh)),
              h('td', { class: 'num' }, liveText(count(s.lagRecords), fresh)),
              h('td', { class: 'num' }, liveText(seconds(s.lagSec), fresh)),
              h('td', { class: 'num' }, count(s.refused)),
              h('td', { class: error ? 'error-text' : 'muted' }, error ?? '–'),
            );
          }),
        ),
      ),
    );
  }

  /** The rules stage: how busy it is, the alerts it made, how long restoring its state took, its file and lag. */
  function renderRules(r: RulesPipelineReport, fresh: boolean): void {
    const severities: Severity[] = ['critical', 'warning', 'info'];
    const stat = (id: string, label: string, value: string, note = '') =>
      h('div', { class: 'rules-stat' }, h('span', { class: 'tile-label' }, label), h('span', { class: 'rules-stat-value num', id }, value), h('span', { class: 'tile-note' }, note));
    const bySeverity = (id: string, counts: Record<Severity, number>) =>
      h(
        'span',
        { class: 'sev-counts num', id },
        ...severities.map((s) => h('span', { class: 'sev-count', 'data-severity': s, 'data-active': String(counts[s] > 0), title: `${counts[s]} ${s}` }, h('strong', {}, formatCount(counts[s])), h('small', {}, s))),
      );
    const seconds = (v: number | null) => (v === null ? '–' : v < 1 ? `${Math.round(v * 1000)} ms` : `${v.toFixed(2)} s`);
    const elsewhere = 'rules run in another process';
    const stats = h(
      'div',
      { class: 'rules-stats' },
      stat('rules-evaluations', 'Evaluations', r.evaluationsPerSec === null ? BLANK : liveText(`${formatRate(r.evaluationsPerSec)}/s`, fresh), r.evaluationsPerSec === null ? elsewhere : 'records evaluated'),
      h('div', { class: 'rules-stat' }, h('span', { class: 'tile-label' }, 'Open alerts'), bySeverity('rules-open', r.open.bySeverity), h('span', { class: 'tile-note' }, `${formatCount(r.open.open)} open · ${formatCount(r.open.unacknowledged)} not acknowledged`)),
      h(
        'div',
        { class: 'rules-stat' },
        h('span', { class: 'tile-label' }, 'Transitions'),
        bySeverity('rules-transitions', r.transitions.bySeverity),
        h('span', { class: 'tile-note' }, r.transitions.source === 'metrics' ? 'written since start' : 'read from the alerts stream'),
      ),
      stat('rules-restore', 'State restore last / p99', r.restoreSec.count === 0 ? 'none yet' : `${seconds(r.restoreSec.last)} / ${seconds(r.restoreSec.p99)}`, `${formatCount(r.restoreSec.count)} ${r.restoreSec.count === 1 ? 'restore' : 'restores'}`),
      stat('rules-late', 'Late readings', r.lateReadings === null ? BLANK : formatCount(r.lateReadings), r.lateReadings === null ? elsewhere : 'left out of event-time rules'),
    );
    const lines: HTMLElement[] = [];
    if (r.file) {
      const f = r.file;
      lines.push(h('p', { id: 'rules-file' }, h('span', { class: 'mono' }, f.source), h('span', { class: 'muted' }, ` · ${f.rules} ${f.rules === 1 ? 'rule' : 'rules'} (${f.enabled} enabled), loaded ${agoText(Date.now() - f.loadedAt)} ago`)));
      if (f.error !== undefined) lines.push(h('p', { class: 'error-text', id: 'rules-file-error' }, `Rules file not taken: ${f.error}`));
    } else if (!r.inProcess) {
      lines.push(h('p', { class: 'muted' }, 'The rules role runs in another process: its file and rates are in that process’s pipeline view.'));
    }
    const extras: string[] = [];
    if (r.reloads) extras.push(`reloads: ${formatCount(r.reloads.loaded)} loaded, ${formatCount(r.reloads.invalid)} invalid`);
    if (r.notifications) extras.push(`notifications: ${formatCount(r.notifications.sent)} sent, ${formatCount(r.notifications.retried)} retried, ${formatCount(r.notifications.failed)} failed`);
    if (extras.length > 0) lines.push(h('p', { class: 'muted small' }, extras.join(' · ')));
    for (const g of r.lag) {
      lines.push(h('p', { class: 'rules-lag', 'data-group': g.groupId }, h('span', { class: 'mono' }, g.groupId), h('span', { class: 'muted' }, ` on ${g.topic} · lag `), h('strong', { class: 'num' }, fresh ? formatCount(g.totalLag) : BLANK)));
    }
    rulesBody.replaceChildren(stats, ...lines);
  }

  /** One request at a time; the next is scheduled when this one ends, whatever happened, while the view is open. */
  async function pollOnce(): Promise<void> {
    timer = undefined;
    if (!active || pending) return;
    const request = new AbortController();
    pending = request;
    const timeout = window.setTimeout(() => request.abort(new Error(`timed out after ${POLL_TIMEOUT_MS / 1000} s`)), POLL_TIMEOUT_MS);
    const previous = last;
    try {
      const response = await fetch('/api/pipeline', { signal: request.signal, cache: 'no-store' });
      // Sluice answers, but not to this session (restarted with another token): sign in, do not poll on.
      if (response.status === 401) {
        active = false;
        return signInAgain();
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const snapshot = (await response.json()) as PipelineSnapshot;
      if (!active) return;
      last = snapshot;
      lastOkAt = Date.now();
      lastError = '';
      poll = 'ok';
      // Sluice answers over HTTP while the live link is still waiting out its backoff: try it now.
      if (link === 'lost') live.retryNow();
    } catch (error) {
      if (!active) return;
      poll = 'failed';
      lastError = error instanceof Error && error.name !== 'AbortError' ? `no answer (${error.message})` : 'no answer';
    } finally {
      window.clearTimeout(timeout);
      if (pending === request) pending = undefined;
    }
    try {
      paint();
    } catch (error) {
      // An answer the view cannot draw must not end the loop either: back to what it last drew, marked unknown.
      last = previous;
      poll = 'failed';
      lastError = `unreadable answer (${(error as Error).message})`;
      try {
        paint();
      } catch {
        // Nothing better to show; the next poll tries again.
      }
    }
    if (active && timer === undefined) timer = window.setTimeout(() => void pollOnce(), again ? 0 : POLL_MS);
    again = false;
  }

  /** Poll at once (back from a lost link): the next regular poll is replaced, not added. */
  function pollNow(): void {
    if (!active) return;
    if (pending) {
      again = true;
      return;
    }
    if (timer !== undefined) window.clearTimeout(timer);
    void pollOnce();
  }

  return {
    root,
    mount() {
      active = true;
      off = live.on({
        connection(state) {
          const was = link;
          link = state;
          if (state === 'live' && was !== 'live') pollNow();
          else paint();
        },
      });
      paint();
      void pollOnce();
      resize = new ResizeObserver(() => plot?.setSize({ width: Math.max(200, chartHost.clientWidth), height: 160 }));
      resize.observe(chartHost);
    },
    unmount() {
      active = false;
      off?.();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      pending?.abort();
      pending = undefined;
      resize?.disconnect();
      plot?.destroy();
      plot = undefined;
    },
  };
}
