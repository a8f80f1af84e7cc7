import { createAlertBook, severityRank, type AlertBook } from '../alerts.js';
import type { AlertCounts, AlertList, AlertsSnapshot, AlertTransition, Severity } from '../protocol.js';
import { signInAgain } from './live.js';

/**
 * The page's alerts: the socket's `alerts` snapshot (on every connect) and its `alert` pushes, plus what a view
 * fetched from `GET /api/alerts`, all in one book of the same code the server uses (../alerts.ts), so a transition
 * that comes twice — pushed, fetched, or returned by an acknowledgement — counts once.
 */
export interface AlertStore {
  book: AlertBook;
  /** Bumped on every change, so views redraw only when something did change. */
  version: number;
  applySnapshot(snapshot: AlertsSnapshot): void;
  apply(transition: AlertTransition): void;
  /** Takes a fetched list (history included) into the book. */
  merge(alerts: readonly AlertTransition[]): void;
  /** `GET /api/alerts` with the query given, merged; resolves to the list as the server answered it. */
  fetch(query: { state?: 'open' | 'all'; device?: string; since?: number }): Promise<AlertTransition[]>;
  /**
   * `POST /api/alerts/:id/ack` as `by` (the server names the dashboard and the page's address when it is empty);
   * the transition it answers with is taken at once. Resolves to what to tell the operator when it did not work.
   */
  acknowledge(alertId: string, by: string): Promise<{ ok: true } | { ok: false; message: string }>;
  counts(): AlertCounts;
  /** Open alerts per device: how many, and the worst severity. Computed once per version. */
  byDevice(): ReadonlyMap<string, { count: number; worst: Severity }>;
  /** Called after every change. */
  subscribe(listener: () => void): () => void;
}

export function createAlertStore(): AlertStore {
  const book = createAlertBook();
  const listeners = new Set<() => void>();
  let perDevice: Map<string, { count: number; worst: Severity }> | undefined;
  let perDeviceVersion = -1;
  let countsCache: AlertCounts | undefined;
  let countsVersion = -1;

  const changed = () => {
    store.version++;
    for (const listener of [...listeners]) listener();
  };

  const store: AlertStore = {
    book,
    version: 0,
    applySnapshot(snapshot) {
      book.sync(snapshot.open);
      changed();
    },
    apply(transition) {
      if (book.add(transition)) changed();
    },
    merge(alerts) {
      let any = false;
      for (const alert of alerts) any = book.add(alert) || any;
      if (any) changed();
    },
    async fetch(query) {
      const params = new URLSearchParams();
      if (query.state) params.set('state', query.state);
      if (query.device) params.set('device', query.device);
      if (query.since !== undefined) params.set('since', String(Math.max(0, Math.floor(query.since))));
      const response = await fetch(`/api/alerts?${params}`, { cache: 'no-store' });
      if (response.status === 401) {
        signInAgain();
        return [];
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as AlertList;
      store.merge(body.alerts);
      return body.alerts;
    },
    async acknowledge(alertId, by) {
      let response: Response;
      try {
        response = await fetch(`/api/alerts/${encodeURIComponent(alertId)}/ack`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(by.trim() === '' ? {} : { by: by.trim() }),
        });
      } catch (error) {
        return { ok: false, message: `no answer (${(error as Error).message})` };
      }
      if (response.status === 401) {
        signInAgain();
        return { ok: false, message: 'signed out' };
      }
      const body = (await response.json().catch(() => ({}))) as AlertTransition & { message?: string };
      if (response.status === 202) {
        store.apply(body);
        return { ok: true };
      }
      // Someone else was quicker: the list shows who once their acknowledgement is here.
      if (response.status === 409) void store.fetch({ state: 'open' }).catch(() => undefined);
      return { ok: false, message: body.message ?? `HTTP ${response.status}` };
    },
    counts() {
      if (!countsCache || countsVersion !== store.version) {
        countsCache = book.counts();
        countsVersion = store.version;
      }
      return countsCache;
    },
    byDevice() {
      if (!perDevice || perDeviceVersion !== store.version) {
        perDevice = new Map();
        for (const alert of book.list({ state: 'open' })) {
          const entry = perDevice.get(alert.deviceId);
          if (!entry) perDevice.set(alert.deviceId, { count: 1, worst: alert.severity });
          else {
            entry.count++;
            if (severityRank(alert.severity) > severityRank(entry.worst)) entry.worst = alert.severity;
          }
        }
        perDeviceVersion = store.version;
      }
      return perDevice;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
  return store;
}
