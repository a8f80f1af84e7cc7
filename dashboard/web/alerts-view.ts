import type { RulesReport, Severity } from '../protocol.js';
import { ackName, handleAckClicks, renderAlertRows, setAckName, type AlertRow } from './alert-row.js';
import type { AlertStore } from './alert-store.js';
import { agoText } from './connection.js';
import { formatCount, h, setText } from './format.js';
import type { Live } from './live.js';
import { createRenderLoop } from './schedule.js';
import type { View } from './view.js';

/**
 * Every alert: the open ones first (worst severity, then newest), each with what it measured, how long it has
 * been open and an acknowledge button; then the history of cleared ones with why they cleared. Open alerts come
 * with the socket's snapshot; the history from `GET /api/alerts?state=all`, fetched again after a lost link.
 */

// Alerts are few and each one matters: drawn sooner than the fleet table, which redraws at most four times a second.
const RENDER_MS = 100;

export function alertsView(store: AlertStore, live: Live): View {
  const tile = (severity: Severity | 'unacked', label: string) => {
    const value = h('span', { class: 'tile-value num', id: `alerts-count-${severity}` }, '0');
    const el = h('div', { class: 'tile alert-tile', 'data-severity': severity }, h('span', { class: 'tile-label' }, label), h('span', { class: 'tile-main' }, value));
    return { el, value };
  };
  const tiles = { critical: tile('critical', 'Critical'), warning: tile('warning', 'Warning'), info: tile('info', 'Info'), unacked: tile('unacked', 'Not acknowledged') };

  const nameInput = h('input', { type: 'text', id: 'ack-name', placeholder: 'dashboard@your address', 'aria-label': 'Acknowledge as', autocomplete: 'name', maxlength: '128', spellcheck: 'false' });
  nameInput.value = ackName();
  const rulesStatus = h('p', { class: 'muted small', id: 'rules-status', hidden: '' });
  const rulesError = h('div', { class: 'banner banner-bad', id: 'rules-error', hidden: '' });
  const openList = h('ol', { class: 'alert-list', id: 'alerts-open' });
  const historyList = h('ol', { class: 'alert-list alert-history', id: 'alerts-history' });
  const openEmpty = h('li', { class: 'alert-empty' }, 'No open alerts. All quiet.');
  const historyEmpty = h('li', { class: 'alert-empty muted' }, 'Loading the history…');
  const openTitle = h('h2', {}, 'Open');
  const historyTitle = h('h2', {}, 'History');
  const root = h(
    'section',
    { class: 'view alerts-view' },
    h('div', { class: 'tiles alert-tiles' }, tiles.critical.el, tiles.warning.el, tiles.info.el, tiles.unacked.el),
    h('div', { class: 'toolbar alert-toolbar' }, h('label', { class: 'ack-name', for: 'ack-name' }, 'Acknowledge as ', nameInput), rulesStatus),
    rulesError,
    h('section', { class: 'panel alert-panel' }, openTitle, openList),
    h('section', { class: 'panel alert-panel' }, historyTitle, h('p', { class: 'muted small' }, 'Cleared alerts, the latest clear first.'), historyList),
  );

  const openRows = new Map<string, AlertRow>();
  const historyRows = new Map<string, AlertRow>();
  const loop = createRenderLoop(RENDER_MS, render);
  let rules: RulesReport | undefined;
  let off: (() => void) | undefined;
  let stopStore: (() => void) | undefined;
  let clock: number | undefined;
  let mounted = false;
  let wasLost = false;

  function render(): void {
    const now = Date.now();
    const counts = store.counts();
    for (const severity of ['critical', 'warning', 'info'] as const) {
      setText(tiles[severity].value, formatCount(counts.bySeverity[severity]));
      tiles[severity].el.dataset.active = String(counts.bySeverity[severity] > 0);
    }
    setText(tiles.unacked.value, formatCount(counts.unacknowledged));
    tiles.unacked.el.dataset.active = String(counts.unacknowledged > 0);

    const all = store.book.list({ state: 'all' });
    const open = all.filter((a) => a.state === 'open');
    const cleared = all.filter((a) => a.state === 'cleared');
    setText(openTitle, `Open · ${open.length}`);
    setText(historyTitle, `History · ${cleared.length}`);
    renderAlertRows(openList, openRows, open, now, { showDevice: true, empty: openEmpty });
    renderAlertRows(historyList, historyRows, cleared, now, { showDevice: true, empty: historyEmpty });

    if (rules) {
      rulesStatus.hidden = false;
      const enabled = rules.rules.filter((r) => r.enabled).length;
      setText(rulesStatus, `${rules.rules.length} ${rules.rules.length === 1 ? 'rule' : 'rules'} (${enabled} enabled) from ${rules.source}, loaded ${agoText(now - rules.loadedAt)} ago`);
      rulesError.hidden = rules.error === undefined;
      setText(rulesError, rules.error === undefined ? '' : `The latest edit of the rules file was not taken: ${rules.error}`);
    }
  }

  async function load(): Promise<void> {
    try {
      await store.fetch({ state: 'all' });
      setText(historyEmpty, 'No cleared alerts yet.');
    } catch (error) {
      setText(historyEmpty, `Could not load the history: ${(error as Error).message}`);
    }
    // The rules run in another process when this answers 404: the line stays hidden.
    const response = await fetch('/api/rules', { cache: 'no-store' }).catch(() => undefined);
    if (mounted && response?.ok) rules = (await response.json()) as RulesReport;
    loop.request();
  }

  nameInput.addEventListener('change', () => setAckName(nameInput.value));
  handleAckClicks(root, store, () => nameInput.value);

  return {
    root,
    mount() {
      mounted = true;
      stopStore = store.subscribe(() => loop.request());
      off = live.on({
        connection(state) {
          if (state === 'lost') wasLost = true;
          else if (state === 'live' && wasLost) {
            wasLost = false;
            void load();
          }
        },
      });
      void load();
      // "open 4 min" keeps counting while nothing arrives.
      clock = window.setInterval(() => loop.request(), 1000);
      loop.request();
    },
    unmount() {
      mounted = false;
      off?.();
      stopStore?.();
      loop.cancel();
      if (clock !== undefined) clearInterval(clock);
    },
  };
}
