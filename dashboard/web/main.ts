import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { deviceView } from './device-view.js';
import { createFleetStore } from './fleet-store.js';
import { fleetView } from './fleet-view.js';
import { connectLive } from './live.js';
import { pipelineView } from './pipeline-view.js';
import type { View } from './view.js';

/** The dashboard app: a hash router over three views, one socket, one fleet store shared by all views. */

const store = createFleetStore();
const live = connectLive();
const main = document.getElementById('view')!;
const conn = document.getElementById('conn')!;
const modeBadge = document.getElementById('mode-badge')!;
let current: View | undefined;

const showMode = (mode: string) => {
  modeBadge.hidden = mode !== 'embedded';
};

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
  connection(state) {
    conn.dataset.state = state;
    conn.querySelector('.conn-text')!.textContent = state === 'live' ? 'live' : state === 'connecting' ? 'reconnecting' : 'offline';
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
    current = deviceView(decodeURIComponent(rest.join('/')), store, live);
    tab = '';
  } else if (name === 'pipeline') {
    current = pipelineView(showMode);
    tab = 'pipeline';
  } else {
    current = fleetView(store);
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
