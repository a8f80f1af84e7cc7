import uPlot from 'uplot';
import type { AlertTransition, DeadLetterSummary, DeviceEventMessage, FleetRow, LiveReading, ReadingValue, RulesReport } from '../protocol.js';
import { ackName, handleAckClicks, renderAlertRows, type AlertRow } from './alert-row.js';
import type { AlertStore } from './alert-store.js';
import { alertSpans } from './alert-text.js';
import { axes, severityColor, themeColor } from './chart.js';
import { BLANK, mergeNewestFirst, reloadSince } from './connection.js';
import type { FleetStore } from './fleet-store.js';
import { formatAge, formatRate, formatTime, formatValue, h, numeric, setText, unitLabel } from './format.js';
import { signInAgain, type Live } from './live.js';
import { createRenderLoop } from './schedule.js';
import type { View } from './view.js';

/**
 * One device: a live uPlot chart per numeric metric, filled at once from the recent window
 * (`GET /api/devices/:id/readings`) and then moved by the `device:<id>` room's batches; its recent status
 * events and dead letters. Every buffer is bounded (points per metric, list lengths).
 *
 * Its alerts: the open ones (with an acknowledge button) and the rules behind them, and on each chart a band
 * over the time an alert of that metric (or of the whole device: silence, offline, counts) was open, with a line
 * at its raise and a dashed one at its clear.
 */

const WINDOW_MS = 15 * 60_000;
const MAX_POINTS = 6000;
const MAX_LIST = 50;
const RENDER_MS = 250;
/** After a reconnect the window is fetched again from a little before the newest reading the page has. */
const RELOAD_OVERLAP_MS = 60_000;

interface Series {
  metric: string;
  unit?: string;
  xs: number[]; // seconds (uPlot's time unit), with the sub-millisecond part of the precise time
  ys: number[];
  /**
   * The precise time of each point (Reading.timeNs), beside xs: a double of seconds holds about 0.24 µs today, so
   * readings of one payload (1 ns apart) share an x but stay separate points; only an equal timeNs is the same point.
   */
  ns: string[];
  latest?: ReadingValue;
  dirty: boolean;
  card?: HTMLElement;
  value?: HTMLElement;
  plot?: uPlot;
}

export function deviceView(deviceId: string, store: FleetStore, alerts: AlertStore, live: Live): View {
  const room = `device:${deviceId}`;
  const series = new Map<string, Series>();
  const events: DeviceEventMessage[] = [];
  const deadLetters: DeadLetterSummary[] = [];
  let loaded = false;
  let reloading = false;
  let mounted = false;
  let wasLost = false;
  /** Newest reading time the page has (device time, epoch ms). */
  let newestTs = Number.NEGATIVE_INFINITY;
  const early: LiveReading[] = [];
  let listsDirty = true;
  let off: (() => void) | undefined;
  let resize: ResizeObserver | undefined;
  let clock: number | undefined;
  let stopAlerts: (() => void) | undefined;
  let alertsVersion = -1;
  let rules: RulesReport | undefined;
  /** This device's alerts open at some time in the chart window, refreshed when the alert store changes. */
  let windowAlerts: AlertTransition[] = [];

  const title = h('h1', { class: 'device-title mono' }, deviceId);
  const statusBadge = h('span', { class: 'status-badge', id: 'device-status' }, h('span', { class: 'dot' }), h('span', { class: 'status-text' }, 'unknown'));
  const rate = h('span', { class: 'stat-inline num', id: 'device-rate' });
  const seen = h('span', { class: 'stat-inline num', id: 'device-seen' });
  const head = h(
    'div',
    { class: 'device-head' },
    h('a', { href: '#/fleet', class: 'back' }, '← Fleet'),
    h('div', { class: 'device-head-main' }, title, statusBadge),
    h('div', { class: 'device-head-stats' }, rate, seen),
  );
  const alertRows = new Map<string, AlertRow>();
  const alertList = h('ol', { class: 'alert-list', id: 'device-alerts' });
  const alertsEmpty = h('li', { class: 'alert-empty' }, 'No open alerts on this device.');
  const rulesLine = h('p', { class: 'muted small', id: 'device-rules' });
  const alertPanel = h('section', { class: 'panel alert-panel device-alerts' }, h('h2', {}, 'Alerts'), alertList, rulesLine);
  handleAckClicks(alertPanel, alerts, ackName);
  const charts = h('div', { class: 'charts', id: 'charts' });
  const loading = h('p', { class: 'muted', id: 'charts-loading' }, 'Loading the recent window…');
  const others = h('div', { class: 'other-values' });
  const eventList = h('ol', { class: 'log', id: 'device-events' });
  const deadList = h('ol', { class: 'log', id: 'device-dead-letters' });
  const panels = h(
    'div',
    { class: 'panels' },
    h('section', { class: 'panel' }, h('h2', {}, 'Status events'), eventList),
    h('section', { class: 'panel' }, h('h2', {}, 'Dead letters'), deadList),
  );
  const root = h('section', { class: 'view device-view' }, head, alertPanel, loading, charts, others, panels);

  const loop = createRenderLoop(RENDER_MS, render);

  function seriesFor(metric: string): Series {
    let s = series.get(metric);
    if (!s) {
      s = { metric, xs: [], ys: [], ns: [], dirty: true };
      series.set(metric, s);
    }
    return s;
  }

  function add(reading: { metric: string; value: ReadingValue; unit?: string; ts: number; timeNs?: string }): void {
    const s = seriesFor(reading.metric);
    if (reading.ts > newestTs) newestTs = reading.ts;
    s.latest = reading.value;
    if (reading.unit) s.unit = reading.unit;
    s.dirty = true;
    const y = numeric(reading.value);
    if (y === undefined) return;
    const ns = reading.timeNs ?? `${reading.ts}000000`;
    const x = reading.ts / 1000 + subMillisecondNs(ns) / 1e9;
    const n = s.xs.length;
    if (n === 0 || compareNs(ns, s.ns[n - 1]!) > 0) {
      s.xs.push(x);
      s.ys.push(y);
      s.ns.push(ns);
      return;
    }
    // Late or repeated reading: keep the points in time order (uPlot needs x sorted); the same timeNs is the same point.
    let at = n;
    while (at > 0 && compareNs(s.ns[at - 1]!, ns) > 0) at--;
    if (at > 0 && s.ns[at - 1] === ns) s.ys[at - 1] = y;
    else {
      s.xs.splice(at, 0, x);
      s.ys.splice(at, 0, y);
      s.ns.splice(at, 0, ns);
    }
  }

  function trim(s: Series): void {
    const cutoff = (Date.now() + store.skewMs - WINDOW_MS) / 1000;
    let drop = 0;
    while (drop < s.xs.length && s.xs[drop]! < cutoff) drop++;
    drop = Math.max(drop, s.xs.length - MAX_POINTS);
    if (drop > 0) {
      s.xs.splice(0, drop);
      s.ys.splice(0, drop);
      s.ns.splice(0, drop);
    }
  }

  function makePlot(s: Series): void {
    const valueEl = h('span', { class: 'chart-value num' });
    const card = h(
      'article',
      { class: 'chart-card', 'data-metric': s.metric, 'data-points': '0' },
      h('header', {}, h('h3', {}, s.metric), valueEl),
    );
    charts.append(card);
    // Before the plot: its first draw already marks alerts on the card.
    s.card = card;
    s.value = valueEl;
    const accent = themeColor('--accent', '#2563eb');
    const width = Math.max(200, card.clientWidth - 24);
    s.plot = new uPlot(
      {
        width,
        height: 180,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: axes(56),
        series: [{}, { label: s.metric, stroke: accent, width: 1.5, fill: `${accent}1a`, points: { show: false } }],
        hooks: { draw: [(u) => drawAlertMarks(u, s)] },
      },
      [s.xs, s.ys],
      card,
    );
  }

  /** Bands and lines for the alerts of this chart's metric, or of the device as a whole, over the plotted range. */
  function drawAlertMarks(u: uPlot, s: Series): void {
    const min = u.scales.x?.min;
    const max = u.scales.x?.max;
    if (min === undefined || max === undefined || !s.card) return;
    const relevant = windowAlerts.filter((a) => a.metric === undefined || a.metric === s.metric);
    const spans = alertSpans(relevant, min * 1000, max * 1000);
    s.card.dataset.alertMarks = String(spans.length);
    if (spans.length === 0) return;
    const { ctx, bbox } = u;
    const ratio = window.devicePixelRatio || 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
    ctx.clip();
    for (const span of spans) {
      const color = severityColor(span.severity);
      const x0 = u.valToPos(span.start / 1000, 'x', true);
      const x1 = u.valToPos(span.end / 1000, 'x', true);
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = color;
      ctx.fillRect(x0, bbox.top, Math.max(1, x1 - x0), bbox.height);
      ctx.globalAlpha = 0.9;
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5 * ratio;
      // A solid line at the raise, a dashed one at the clear.
      const marks: { at: number | undefined; dash: number[] }[] = [
        { at: span.raise, dash: [] },
        { at: span.clear, dash: [4 * ratio, 3 * ratio] },
      ];
      for (const { at, dash } of marks) {
        if (at === undefined) continue;
        const x = Math.round(u.valToPos(at / 1000, 'x', true)) + 0.5;
        ctx.setLineDash(dash);
        ctx.beginPath();
        ctx.moveTo(x, bbox.top);
        ctx.lineTo(x, bbox.top + bbox.height);
        ctx.stroke();
      }
    }
    ctx.restore();
  }

  function renderAlerts(): void {
    const now = Date.now();
    if (alertsVersion !== alerts.version) {
      alertsVersion = alerts.version;
      windowAlerts = alerts.book.list({ state: 'all', device: deviceId, since: now + store.skewMs - WINDOW_MS });
      // Marks follow the alerts, not only new readings.
      for (const s of series.values()) s.plot?.redraw(false, false);
    }
    const open = windowAlerts.filter((a) => a.state === 'open');
    renderAlertRows(alertList, alertRows, open, now, { showDevice: false, empty: alertsEmpty });
    const openRules = [...new Set(open.map((a) => a.ruleId))];
    const ruleText = (id: string) => {
      const rule = rules?.rules.find((r) => r.id === id);
      return rule ? `${id} (${rule.condition})` : id;
    };
    const loaded = rules ? ` · ${rules.rules.length} ${rules.rules.length === 1 ? 'rule' : 'rules'} loaded` : '';
    setText(rulesLine, openRules.length > 0 ? `Open on ${openRules.length === 1 ? 'rule' : 'rules'}: ${openRules.map(ruleText).join(', ')}${loaded}` : `No rule has an open alert here${loaded}`);
  }

  /** This device's alerts in the window (cleared ones too, for the chart marks), and the rules when they run here. */
  async function loadAlerts(): Promise<void> {
    await alerts.fetch({ state: 'all', device: deviceId, since: Date.now() + store.skewMs - WINDOW_MS }).catch(() => undefined);
    const response = await fetch('/api/rules', { cache: 'no-store' }).catch(() => undefined);
    if (mounted && response?.ok) rules = (await response.json()) as RulesReport;
    alertsVersion = -1;
    loop.request();
  }

  function renderCharts(): void {
    for (const s of series.values()) {
      if (!s.dirty) continue;
      s.dirty = false;
      if (s.xs.length === 0 && s.latest !== undefined && numeric(s.latest) === undefined) continue; // text metric: shown below
      trim(s);
      if (!s.plot) makePlot(s);
      s.plot!.setData([s.xs, s.ys]);
      s.card!.dataset.points = String(s.xs.length);
      if (s.value && s.latest !== undefined) setText(s.value, `${formatValue(s.latest)} ${unitLabel(s.unit)}`.trim());
    }
    const text = [...series.values()].filter((s) => s.xs.length === 0 && s.latest !== undefined && numeric(s.latest) === undefined);
    others.replaceChildren(...text.map((s) => h('div', { class: 'kv-card' }, h('span', { class: 'k' }, s.metric), h('span', { class: 'v' }, formatValue(s.latest!)))));
  }

  function renderHead(): void {
    const row: FleetRow | undefined = store.rows.get(deviceId);
    const status = row?.status ?? 'unknown';
    statusBadge.dataset.status = status;
    const since = row?.statusSince !== undefined ? ` · ${formatAge(Date.now() + store.skewMs - row.statusSince)}` : '';
    setText(statusBadge.querySelector('.status-text')!, `${status}${since}`);
    setText(rate, row && store.live ? `${formatRate(row.msgsPerSec)} msg/s` : `${BLANK} msg/s`);
    setText(seen, row && row.lastSeen > 0 ? `last seen ${formatAge(Date.now() + store.skewMs - row.lastSeen)} ago` : 'never seen');
  }

  function renderLists(): void {
    if (!listsDirty) return;
    listsDirty = false;
    eventList.replaceChildren(
      ...(events.length === 0
        ? [h('li', { class: 'muted' }, 'No status events in the recent window.')]
        : events.map((e) =>
            h('li', { 'data-type': e.type }, h('time', { class: 'num' }, formatTime(e.ts)), h('span', { class: `tag tag-${e.type}` }, e.type), h('span', { class: 'reason' }, e.reason ?? '')),
          )),
    );
    deadList.replaceChildren(
      ...(deadLetters.length === 0
        ? [h('li', { class: 'muted' }, 'No dead letters in the recent window.')]
        : deadLetters.map((d) =>
            h(
              'li',
              { 'data-code': d.code },
              h('time', { class: 'num' }, formatTime(d.receivedAt)),
              h('span', { class: 'tag tag-bad' }, d.code),
              h('span', { class: 'reason' }, `${d.reason} `, h('span', { class: 'muted' }, `${d.topic} · ${d.bytes} B`)),
            ),
          )),
    );
  }

  function render(): void {
    renderHead();
    renderAlerts();
    if (loaded) renderCharts();
    renderLists();
  }

  /**
   * The recent window and activity. The first time: the whole window. After a reconnect: from a little before
   * the newest reading the page has (what the server received meanwhile, or all it has after a restart), merged.
   */
  async function load(): Promise<void> {
    const since = reloadSince(Date.now(), WINDOW_MS, loaded ? newestTs : undefined, RELOAD_OVERLAP_MS);
    const [readingsResponse, activityResponse] = await Promise.all([
      fetch(`/api/devices/${encodeURIComponent(deviceId)}/readings?since=${since}&limit=${MAX_POINTS * 8}`),
      fetch(`/api/devices/${encodeURIComponent(deviceId)}/activity`),
    ]);
    if (readingsResponse.status === 401 || activityResponse.status === 401) return signInAgain();
    if (!readingsResponse.ok) throw new Error(`HTTP ${readingsResponse.status}`);
    const body = (await readingsResponse.json()) as { readings: { metric: string; value: ReadingValue; unit?: string; ts: number }[] };
    const activity = activityResponse.ok ? ((await activityResponse.json()) as { events: DeviceEventMessage[]; deadLetters: DeadLetterSummary[] }) : undefined;
    if (!mounted) return;
    for (const r of body.readings) add(r);
    if (activity) {
      mergeNewestFirst(events, activity.events, MAX_LIST, (e) => e.ts, (e) => `${e.ts}|${e.type}|${e.reason}`);
      mergeNewestFirst(deadLetters, activity.deadLetters, MAX_LIST, (d) => d.receivedAt, (d) => `${d.receivedAt}|${d.code}|${d.topic}|${d.bytes}`);
      listsDirty = true;
    }
    for (const r of early.splice(0)) add(r);
    loaded = true;
    loading.hidden = true;
    if (series.size === 0) {
      loading.hidden = false;
      loading.textContent = 'No readings in the recent window yet; charts start with the next reading.';
    }
    loop.request();
  }

  function loadFailed(error: unknown): void {
    if (!mounted) return;
    loading.hidden = false;
    loading.textContent = `Could not load the recent window: ${(error as Error).message}`;
  }

  /** Back after a lost link: in the room again first, then what was missed. */
  async function reload(): Promise<void> {
    if (reloading) return;
    reloading = true;
    try {
      await live.join(room);
      if (mounted) await Promise.all([load(), loadAlerts()]);
    } catch (error) {
      loadFailed(error);
    } finally {
      reloading = false;
    }
  }

  return {
    root,
    mount() {
      off = live.on({
        readings(frame) {
          if (frame.deviceId !== deviceId) return;
          if (!loaded) {
            early.push(...frame.readings);
            // A window that never loads (the API failing) must not grow this without end.
            if (early.length > MAX_POINTS) early.splice(0, early.length - MAX_POINTS);
          } else {
            for (const r of frame.readings) add(r);
            loading.hidden = true;
          }
          loop.request();
        },
        deadLetters(frame) {
          if (frame.deviceId !== deviceId) return;
          deadLetters.unshift(...[...frame.deadLetters].reverse());
          deadLetters.length = Math.min(deadLetters.length, MAX_LIST);
          listsDirty = true;
          loop.request();
        },
        deviceEvent(event) {
          if (event.deviceId !== deviceId) return;
          events.unshift(event);
          events.length = Math.min(events.length, MAX_LIST);
          listsDirty = true;
          loop.request();
        },
        connection(state) {
          if (state === 'lost') wasLost = true;
          else if (state === 'live' && wasLost) {
            wasLost = false;
            void reload();
          }
          loop.request();
        },
      });
      mounted = true;
      // Join before loading, so nothing falls between the recent window and the first live batch.
      void live.join(room);
      void load().catch(loadFailed);
      stopAlerts = alerts.subscribe(() => loop.request());
      void loadAlerts();
      resize = new ResizeObserver(() => {
        for (const s of series.values()) {
          if (s.plot && s.card) s.plot.setSize({ width: Math.max(200, s.card.clientWidth - 24), height: 180 });
        }
      });
      resize.observe(charts);
      clock = window.setInterval(() => loop.request(), 1000);
      loop.request();
    },
    changed() {
      loop.request();
    },
    unmount() {
      mounted = false;
      live.leave(room);
      off?.();
      stopAlerts?.();
      loop.cancel();
      resize?.disconnect();
      if (clock !== undefined) clearInterval(clock);
      for (const s of series.values()) s.plot?.destroy();
    },
  };
}

/** The nanoseconds within its millisecond of a precise time (decimal epoch ns). */
function subMillisecondNs(timeNs: string): number {
  return Number(timeNs.slice(-6)) || 0;
}

/** Orders decimal epoch-ns strings without BigInt: by length, then as text (as core/reading.ts compareTimeNs). */
function compareNs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
