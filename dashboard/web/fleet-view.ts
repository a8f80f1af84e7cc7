import type { AlertStore } from './alert-store.js';
import type { DeviceRowState, FleetStore } from './fleet-store.js';
import { SPARK_POINTS } from './fleet-store.js';
import { liveText } from './connection.js';
import { formatAge, formatRate, formatValue, h, setText, unitLabel } from './format.js';
import { createRenderLoop } from './schedule.js';
import type { View } from './view.js';

/**
 * The fleet table: virtualized (only the rows in view exist in the DOM, recycled while scrolling), redrawn
 * at most every RENDER_MS, with fixed row height and fixed column widths so nothing moves when numbers change.
 * A device with an open alert carries a marker beside its id: coloured by the worst, with the count.
 */

const ROW_HEIGHT = 44;
const OVERSCAN = 6;
const RENDER_MS = 250;
const MAX_METRICS_SHOWN = 4;

type SortKey = 'id' | 'status' | 'rate' | 'seen';
type StatusFilter = 'all' | 'online' | 'offline';

interface RowElements {
  root: HTMLAnchorElement;
  id: HTMLElement;
  alertMark: HTMLElement;
  status: HTMLElement;
  statusText: HTMLElement;
  rate: HTMLElement;
  values: HTMLElement;
  canvas: HTMLCanvasElement;
  deviceId?: string;
  sparkVersion: number;
  valuesKey: string;
}

const collator = new Intl.Collator('en', { numeric: true });
const statusRank: Record<string, number> = { online: 0, unknown: 1, offline: 2 };

export function fleetView(store: FleetStore, alerts: AlertStore): View {
  let sortKey: SortKey = 'id';
  let sortDir: 1 | -1 = 1;
  let filter: StatusFilter = 'all';
  let search = '';
  const pool: RowElements[] = [];
  let lastVersion = -1;
  let lastAlertVersion = -1;
  let lastOrderKey = '';
  let ordered: DeviceRowState[] = [];
  let clock: number | undefined;

  const searchInput = h('input', { type: 'search', placeholder: 'Search devices', 'aria-label': 'Search devices', id: 'fleet-search', autocomplete: 'off', spellcheck: 'false' });
  const filterButtons = (['all', 'online', 'offline'] as const).map((value) =>
    h('button', { type: 'button', 'data-filter': value, 'aria-pressed': String(value === filter) }, value[0]!.toUpperCase() + value.slice(1)),
  );
  const summary = h('div', { class: 'summary', id: 'fleet-summary' });
  const toolbar = h('div', { class: 'toolbar' }, searchInput, h('div', { class: 'segmented', role: 'group', 'aria-label': 'Status filter' }, ...filterButtons), summary);

  const headerCell = (label: string, key: SortKey | undefined, cls: string) => {
    const cell = h('div', { class: `cell ${cls}`, role: 'columnheader' }, label);
    if (key) {
      cell.classList.add('sortable');
      cell.dataset.sort = key;
      cell.tabIndex = 0;
    }
    return cell;
  };
  const header = h(
    'div',
    { class: 'fleet-header', role: 'row' },
    headerCell('Device', 'id', 'c-id'),
    headerCell('Status', 'status', 'c-status'),
    headerCell('msg/s', 'rate', 'c-rate'),
    headerCell('Latest values', undefined, 'c-values'),
    headerCell('Trend', undefined, 'c-spark'),
  );
  const spacer = h('div', { class: 'fleet-spacer' });
  const scroller = h('div', { class: 'fleet-rows', role: 'rowgroup', id: 'fleet-rows' }, spacer);
  const empty = h('div', { class: 'empty', hidden: '' }, 'No devices yet. Devices appear here as soon as they connect or publish.');
  const table = h('div', { class: 'fleet-table', role: 'table', 'aria-label': 'Devices' }, header, scroller, empty);
  const root = h('section', { class: 'view fleet-view' }, toolbar, table);

  const loop = createRenderLoop(RENDER_MS, render);

  function createRow(): RowElements {
    const id = h('span', { class: 'id-text' });
    const alertMark = h('span', { class: 'alert-mark num', hidden: '' });
    const statusText = h('span', { class: 'status-text' });
    const status = h('span', { class: 'cell c-status' }, h('span', { class: 'dot' }), statusText);
    const rate = h('span', { class: 'cell c-rate num' });
    const values = h('span', { class: 'cell c-values' });
    const canvas = h('canvas', { class: 'spark', width: '96', height: '24', 'aria-hidden': 'true' });
    const rootEl = h('a', { class: 'row', role: 'row' }, h('span', { class: 'cell c-id mono' }, id, alertMark), status, rate, values, h('span', { class: 'cell c-spark' }, canvas));
    scroller.append(rootEl);
    return { root: rootEl, id, alertMark, status, statusText, rate, values, canvas, sparkVersion: -1, valuesKey: '' };
  }

  function compare(a: DeviceRowState, b: DeviceRowState): number {
    let result = 0;
    if (sortKey === 'status') result = (statusRank[a.status] ?? 1) - (statusRank[b.status] ?? 1);
    else if (sortKey === 'rate') result = a.msgsPerSec - b.msgsPerSec;
    else if (sortKey === 'seen') result = a.lastSeen - b.lastSeen;
    if (result === 0) return collator.compare(a.id, b.id) * (sortKey === 'id' ? sortDir : 1);
    return result * sortDir;
  }

  function order(): DeviceRowState[] {
    const key = `${store.version}|${sortKey}|${sortDir}|${filter}|${search}`;
    // Sorting by id only changes when devices come or go; by rate or status, on every frame.
    if (key === lastOrderKey) return ordered;
    lastOrderKey = key;
    const needle = search.trim().toLowerCase();
    const list: DeviceRowState[] = [];
    for (const row of store.rows.values()) {
      if (filter !== 'all' && row.status !== filter) continue;
      if (needle && !row.id.toLowerCase().includes(needle)) continue;
      list.push(row);
    }
    list.sort(compare);
    ordered = list;
    return list;
  }

  function drawSpark(el: RowElements, row: DeviceRowState): void {
    if (el.sparkVersion === row.sparkVersion && el.deviceId === row.id) return;
    el.sparkVersion = row.sparkVersion;
    const canvas = el.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = 96;
    const hgt = 24;
    if (canvas.width !== w * ratio) {
      canvas.width = w * ratio;
      canvas.height = hgt * ratio;
    }
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const n = row.sparkLength;
    if (n < 2) return;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = row.spark[(row.sparkStart + i) % SPARK_POINTS]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const span = max - min || 1;
    ctx.beginPath();
    for (let i = 0; i < n; i++) {
      const v = row.spark[(row.sparkStart + i) % SPARK_POINTS]!;
      // Newest at the right edge, so a young device's short history does not look like a gap.
      const x = w - 1 - ((n - 1 - i) / (SPARK_POINTS - 1)) * (w - 2);
      const y = hgt - 2 - ((v - min) / span) * (hgt - 4);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.strokeStyle = row.status === 'offline' ? '#8b95a3' : getComputedStyle(canvas).color;
    ctx.lineWidth = 1.25;
    ctx.stroke();
  }

  function fillValues(el: RowElements, row: DeviceRowState): void {
    const metrics = Object.keys(row.latest).sort();
    const shown = metrics.slice(0, MAX_METRICS_SHOWN);
    let key = '';
    for (const m of shown) key += `${m}\u0000`;
    if (key !== el.valuesKey) {
      el.valuesKey = key;
      el.values.replaceChildren(
        ...shown.map((metric) => h('span', { class: 'kv', 'data-metric': metric }, h('span', { class: 'k' }, metric), h('span', { class: 'v num' }), h('span', { class: 'u' }))),
        ...(metrics.length > shown.length ? [h('span', { class: 'more' }, `+${metrics.length - shown.length}`)] : []),
      );
    }
    const spans = el.values.children;
    for (let i = 0; i < shown.length; i++) {
      const latest = row.latest[shown[i]!];
      const kv = spans[i];
      if (!latest || !kv) continue;
      setText(kv.children[1]!, formatValue(latest.value));
      setText(kv.children[2]!, unitLabel(latest.unit));
    }
  }

  function render(): void {
    const rows = order();
    const now = Date.now() + store.skewMs;
    const openAlerts = alerts.byDevice();
    spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    empty.hidden = store.rows.size > 0;

    let online = 0;
    let offline = 0;
    let rate = 0;
    for (const row of store.rows.values()) {
      if (row.status === 'online') online++;
      else if (row.status === 'offline') offline++;
      rate += row.msgsPerSec;
    }
    setText(summary, `${store.rows.size} ${store.rows.size === 1 ? 'device' : 'devices'} · ${online} online · ${offline} offline · ${liveText(formatRate(rate), store.live)} msg/s`);

    const viewHeight = scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((scroller.scrollTop + viewHeight) / ROW_HEIGHT) + OVERSCAN);
    const needed = last - first;
    while (pool.length < needed) pool.push(createRow());
    for (let i = 0; i < pool.length; i++) {
      const el = pool[i]!;
      const row = rows[first + i];
      if (i >= needed || !row) {
        if (!el.root.hidden) el.root.hidden = true;
        continue;
      }
      if (el.root.hidden) el.root.hidden = false;
      el.root.style.transform = `translateY(${(first + i) * ROW_HEIGHT}px)`;
      if (el.deviceId !== row.id) {
        el.root.href = `#/device/${encodeURIComponent(row.id)}`;
        el.root.dataset.deviceId = row.id;
        setText(el.id, row.id);
        el.id.title = row.id;
        el.valuesKey = '\u0001';
      }
      if (el.root.dataset.status !== row.status) el.root.dataset.status = row.status;
      const open = openAlerts.get(row.id);
      el.alertMark.hidden = open === undefined;
      if (open) {
        setText(el.alertMark, `▲ ${open.count}`);
        el.alertMark.dataset.severity = open.worst;
        el.alertMark.title = `${open.count} open ${open.count === 1 ? 'alert' : 'alerts'}, worst: ${open.worst}`;
      }
      el.root.dataset.alert = open?.worst ?? '';
      const since = row.statusSince !== undefined ? ` · ${formatAge(now - row.statusSince)}` : '';
      setText(el.statusText, `${row.status}${since}`);
      // Rates are blanked while the link is down: a stale "3.0" looks exactly like a current one.
      setText(el.rate, liveText(formatRate(row.msgsPerSec), store.live));
      fillValues(el, row);
      drawSpark(el, row);
      el.deviceId = row.id;
    }
    lastVersion = store.version;
    lastAlertVersion = alerts.version;
  }

  function setSort(key: SortKey): void {
    if (sortKey === key) sortDir = sortDir === 1 ? -1 : 1;
    else {
      sortKey = key;
      sortDir = key === 'rate' || key === 'seen' ? -1 : 1;
    }
    showSort();
    loop.request();
  }

  function showSort(): void {
    for (const cell of header.querySelectorAll<HTMLElement>('[data-sort]')) {
      cell.dataset.dir = cell.dataset.sort === sortKey ? (sortDir === 1 ? 'asc' : 'desc') : '';
      cell.setAttribute('aria-sort', cell.dataset.sort === sortKey ? (sortDir === 1 ? 'ascending' : 'descending') : 'none');
    }
  }

  header.addEventListener('click', (event) => {
    const cell = (event.target as HTMLElement).closest<HTMLElement>('[data-sort]');
    if (cell?.dataset.sort) setSort(cell.dataset.sort as SortKey);
  });
  header.addEventListener('keydown', (event) => {
    const cell = (event.target as HTMLElement).closest<HTMLElement>('[data-sort]');
    if (cell?.dataset.sort && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      setSort(cell.dataset.sort as SortKey);
    }
  });
  searchInput.addEventListener('input', () => {
    search = searchInput.value;
    scroller.scrollTop = 0;
    loop.request();
  });
  for (const button of filterButtons) {
    button.addEventListener('click', () => {
      filter = button.dataset.filter as StatusFilter;
      for (const b of filterButtons) b.setAttribute('aria-pressed', String(b === button));
      scroller.scrollTop = 0;
      loop.request();
    });
  }
  scroller.addEventListener('scroll', () => loop.request(), { passive: true });

  return {
    root,
    mount() {
      showSort();
      // "online · 12s" ages even when nothing arrives.
      clock = window.setInterval(() => loop.request(), 1000);
      loop.request();
    },
    changed() {
      if (store.version !== lastVersion || alerts.version !== lastAlertVersion) loop.request();
    },
    unmount() {
      loop.cancel();
      if (clock !== undefined) clearInterval(clock);
    },
  };
}
