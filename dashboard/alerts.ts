/**
 * The alert book: every alert the alerts stream told of, each by its latest transition. The stream holds one
 * record per transition and may deliver one twice (a replay, a consumer restarted from the earliest offset, an
 * acknowledgement the dashboard wrote and then reads back), so the book keeps each alert by the rule of
 * `nextAlertState` (core/alerts.ts): by seq, a clear being final, an acknowledgement merged into the rules stage's
 * transition of the same seq and kept on later ones.
 *
 * Open alerts are all kept, however old: an alert raised last week and still open is what an operator most needs
 * to see. Cleared ones are history, kept up to `maxCleared` (the oldest cleared go first); the ids of those let go
 * are remembered a while longer (`maxRemembered`) with their last seq, so a late duplicate cannot bring one back.
 *
 * Free of Node's types and of I/O: the web app bundles this file too, so the page dedupes, counts and orders
 * alerts by the very rules the API answers with.
 */
import { nextAlertState, SEVERITIES, type AlertTransition, type Severity } from '../core/alerts.js';
import type { AlertCounts } from './protocol.js';

export interface AlertQuery {
  /** `open` (the default): open alerts only; `all`: the cleared ones kept as history too. */
  state?: 'open' | 'all';
  device?: string;
  /** Only alerts open at some time at or after this (epoch ms): every open alert, and those cleared since. */
  since?: number;
}

export interface AlertBookOptions {
  /** Cleared alerts kept for the history; default 1,000. */
  maxCleared?: number;
  /** Alert ids let go of (cleared ones past `maxCleared`) remembered for dedupe; default 5,000. */
  maxRemembered?: number;
}

export interface AlertBook {
  /** Takes a transition; false when it changed nothing (a duplicate, or older than what the book holds: `nextAlertState`). */
  add(transition: AlertTransition): boolean;
  /** The latest transition of an alert the book holds, open or cleared. */
  get(alertId: string): AlertTransition | undefined;
  /** Open alerts first — worst severity first, then the newest raise — then cleared ones, the latest clear first. */
  list(query?: AlertQuery): AlertTransition[];
  counts(): AlertCounts;
  /** Transitions taken since the book was made, by severity. */
  transitionCounts(): Record<Severity, number>;
  /**
   * Makes the open set the given one (a server's snapshot, authoritative): each is taken like `add`, and an open
   * alert the snapshot does not hold is dropped — it ended while the page was not listening.
   */
  sync(open: readonly AlertTransition[]): void;
  /** Called with every transition the book takes (not with duplicates); returns how to stop. */
  onTransition(listener: (transition: AlertTransition) => void): () => void;
}

/** 0 for info, up to 2 for critical. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export function emptyCounts(): AlertCounts {
  return { open: 0, unacknowledged: 0, bySeverity: { info: 0, warning: 0, critical: 0 } };
}

/** Open alerts first, worst severity first, newest raise first; cleared ones by their clear, newest first. */
export function compareAlerts(a: AlertTransition, b: AlertTransition): number {
  const aOpen = a.state === 'open';
  const bOpen = b.state === 'open';
  if (aOpen !== bOpen) return aOpen ? -1 : 1;
  if (aOpen) {
    const bySeverity = severityRank(b.severity) - severityRank(a.severity);
    if (bySeverity !== 0) return bySeverity;
    if (a.raisedAt !== b.raisedAt) return b.raisedAt - a.raisedAt;
  } else if (a.ts !== b.ts) {
    return b.ts - a.ts;
  }
  return a.alertId < b.alertId ? -1 : a.alertId > b.alertId ? 1 : 0;
}

/**
 * The `acknowledged` transition of an open alert: the alert's fields with the next seq, still open, who and when.
 * The measured window belonged to the transition that measured it, so it is left out (as the rules engine does).
 */
export function acknowledgement(alert: AlertTransition, by: string, at: number): AlertTransition {
  const { window: _window, clearReason: _clearReason, ...fields } = alert;
  return { ...fields, transition: 'acknowledged', state: 'open', seq: alert.seq + 1, ackBy: by, ackAt: at, ts: at };
}

export function createAlertBook(options: AlertBookOptions = {}): AlertBook {
  const maxCleared = options.maxCleared ?? 1000;
  const maxRemembered = options.maxRemembered ?? 5000;
  const open = new Map<string, AlertTransition>();
  // In the order the clears arrived, so the first key is the one to let go of next.
  const cleared = new Map<string, AlertTransition>();
  const forgotten = new Map<string, number>();
  const taken: Record<Severity, number> = { info: 0, warning: 0, critical: 0 };
  const listeners = new Set<(transition: AlertTransition) => void>();

  function forget(alertId: string, seq: number): void {
    forgotten.delete(alertId);
    forgotten.set(alertId, seq);
    while (forgotten.size > maxRemembered) forgotten.delete(forgotten.keys().next().value!);
  }

  function add(incoming: AlertTransition): boolean {
    const id = incoming.alertId;
    const held = open.get(id) ?? cleared.get(id);
    const forgottenSeq = held === undefined ? forgotten.get(id) : undefined;
    if (forgottenSeq !== undefined && incoming.seq <= forgottenSeq) return false;
    const transition = nextAlertState(held, incoming);
    if (transition === undefined) return false;
    forgotten.delete(id);
    if (transition.state === 'open') {
      cleared.delete(id);
      open.set(id, transition);
    } else {
      open.delete(id);
      cleared.delete(id);
      cleared.set(id, transition);
      while (cleared.size > maxCleared) {
        const [oldestId, oldest] = cleared.entries().next().value!;
        cleared.delete(oldestId);
        forget(oldestId, oldest.seq);
      }
    }
    taken[transition.severity]++;
    for (const listener of [...listeners]) listener(transition);
    return true;
  }

  return {
    add,
    get: (alertId) => open.get(alertId) ?? cleared.get(alertId),
    list(query = {}) {
      const matches = (alert: AlertTransition) => query.device === undefined || alert.deviceId === query.device;
      const list: AlertTransition[] = [];
      for (const alert of open.values()) if (matches(alert)) list.push(alert);
      if (query.state === 'all') {
        for (const alert of cleared.values()) {
          if (matches(alert) && (query.since === undefined || alert.ts >= query.since)) list.push(alert);
        }
      }
      return list.sort(compareAlerts);
    },
    counts() {
      const counts = emptyCounts();
      for (const alert of open.values()) {
        counts.open++;
        counts.bySeverity[alert.severity]++;
        if (alert.ackBy === undefined) counts.unacknowledged++;
        if (counts.worst === undefined || severityRank(alert.severity) > severityRank(counts.worst)) counts.worst = alert.severity;
      }
      return counts;
    },
    transitionCounts: () => ({ ...taken }),
    sync(snapshot) {
      const keep = new Set<string>();
      for (const alert of snapshot) {
        keep.add(alert.alertId);
        add(alert);
      }
      for (const [id, alert] of open) {
        if (keep.has(id)) continue;
        open.delete(id);
        forget(id, alert.seq);
      }
    },
    onTransition(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
