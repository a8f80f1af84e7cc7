import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { createAlertStore } from './alert-store.js';
import { countsText } from './alert-text.js';
import { alertsView } from './alerts-view.js';
import { describeLostLink, type LinkState } from './connection.js';
import { deviceView } from './device-view.js';
import { createFleetStore } from './fleet-store.js';
import { fleetView } from './fleet-view.js';
import { connectLive } from './live.js';
import { pipelineView } from './pipeline-view.js';
import type { View } from './view.js';

/** The dashboard app: a hash router over four views, one socket, one fleet store and one alert store shared by all views. */

const store = createFleetStore();
const alerts = createAlertStore();
const live = connectLive();
const main = document.getElementById('view')!;
const conn = document.getElementById('conn')!;
const modeBadge = document.getElementById('mode-badge')!;
const lost = document.getElementById('conn-lost')!;
const alertBadge = document.getElementById('alerts-badge')!;
let current: View | undefined;
let link: LinkState = 'connecting';
let lostClock: number | undefined;

const CONN_TEXT: Record<LinkState, string> = { connecting: 'connecting', live: 'live', lost: 'reconnecting' };

/** The "connection lost — data as of …" bar: its age and retry countdown tick once a second while it shows. */
function showLost(): void {
  const text = describeLostLink({ lastDataAt: live.lastDataAt(), nextAttemptAt: live.nextAttemptAt(), now: Date.now() });
  lost.querySelector('.lost-headline')!.textContent = text.headline;
  lost.querySelector('.lost-age')!.textContent = text.age;
  lost.querySelector('.lost-retry')!.textContent = text.retry;
}
lost.querySelector('button')!.addEventListener('click', () => live.retryNow());

const showMode = (mode: string) => {
  modeBadge.hidden = mode !== 'embedded';
};

/** A tab in the background says in its title that the link is down, or how many alerts wait for someone. */
function showTitle(): void {
  const unacked = alerts.counts().unacknowledged;
  document.title = link === 'lost' ? 'Sluice · connection lost' : unacked > 0 ? `(${unacked}) Sluice` : 'Sluice';
}

/** The header badge: open alerts, coloured by the worst; outlined once every one of them is acknowledged. */
function showAlertBadge(): void {
  const counts = alerts.counts();
  alertBadge.hidden = counts.open === 0;
  alertBadge.textContent = String(counts.open);
  alertBadge.dataset.severity = counts.worst ?? '';
  alertBadge.dataset.acked = String(counts.open > 0 && counts.unacknowledged === 0);
  alertBadge.title = countsText(counts);
  showTitle();
}
alerts.subscribe(() => {
  showAlertBadge();
  current?.changed?.();
});

live.on({
  fleetSnapshot(frame) {
    store.applySnapshot(frame);
    current?.changed?.();
  },
  fleet(frame) {
    store.applyFrame(frame);
    current?.changed?.();
  },
  deviceEvent(event) {
    store.applyEvent(event);
    current?.changed?.();
  },
  alertsSnapshot(snapshot) {
    alerts.applySnapshot(snapshot);
  },
  alert(transition) {
    alerts.apply(transition);
  },
  connection(state) {
    link = state;
    conn.dataset.state = state;
    conn.querySelector('.conn-text')!.textContent = CONN_TEXT[state];
    document.body.dataset.link = state;
    store.setLive(state === 'live');
    lost.hidden = state !== 'lost';
    showTitle();
    if (state === 'lost') {
      showLost();
      lostClock ??= window.setInterval(showLost, 1000);
    } else if (lostClock !== undefined) {
      window.clearInterval(lostClock);
      lostClock = undefined;
    }
    current?.changed?.();
  },
});
// The fleet room feeds the table, the device header and the summary: joined for the page's lifetime.
void live.join('fleet');

function route(): void {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  current?.unmount();
  let tab = 'fleet';
  if (name === 'device' && rest.length > 0) {
    current = deviceView(decodeURIComponent(rest.join('/')), store, alerts, live);
    tab = '';
  } else if (name === 'alerts') {
    current = alertsView(alerts, live);
    tab = 'alerts';
  } else if (name === 'pipeline') {
    current = pipelineView(live, showMode);
    tab = 'pipeline';
  } else {
    current = fleetView(store, alerts);
  }
  document.body.dataset.view = name || 'fleet';
  for (const link of document.querySelectorAll<HTMLElement>('[data-tab]')) {
    if (link.dataset.tab === tab) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  main.replaceChildren(current.root);
  current.mount();
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', route);
route();

// The header badge says "embedded" on every view, not only the pipeline view.
void fetch('/api/pipeline')
  .then((r) => (r.ok ? (r.json() as Promise<{ mode: string }>) : undefined))
  .then((p) => p && showMode(p.mode))
  .catch(() => undefined);
