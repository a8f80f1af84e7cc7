import type { AlertTransition } from '../protocol.js';
import { ackText, alertTiming, clearReasonText, describeMeasure } from './alert-text.js';
import type { AlertStore } from './alert-store.js';
import { h, setText } from './format.js';
import { clockDateTime } from './connection.js';

/**
 * One alert as a list row, shared by the Alerts view and the device page: built once per alert and updated in
 * place (its ack button stays the same element while the list reorders or the times tick).
 */

const ACK_NAME_KEY = 'sluice.ackBy';

/** The name acknowledgements are made under, remembered by this browser; empty: the server names the dashboard and address. */
export function ackName(): string {
  try {
    return window.localStorage.getItem(ACK_NAME_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setAckName(name: string): void {
  try {
    if (name.trim() === '') window.localStorage.removeItem(ACK_NAME_KEY);
    else window.localStorage.setItem(ACK_NAME_KEY, name.trim());
  } catch {
    // Storage refused (private mode): the name holds for this page only, through the input.
  }
}

export interface AlertRow {
  root: HTMLLIElement;
  update(alert: AlertTransition, now: number): void;
}

export function createAlertRow(options: { showDevice: boolean }): AlertRow {
  const severity = h('span', { class: 'sev-pill' });
  const rule = h('span', { class: 'alert-rule mono' });
  const description = h('span', { class: 'alert-desc' });
  const device = h('a', { class: 'device-link mono' });
  const timing = h('time', { class: 'alert-when num' });
  const value = h('span', { class: 'alert-value num' });
  const label = h('span', { class: 'alert-label' });
  const ackButton = h('button', { type: 'button', class: 'ack' }, 'Acknowledge');
  const ackBy = h('span', { class: 'ack-by' });
  const ackError = h('span', { class: 'ack-error', role: 'alert' });
  const reason = h('span', { class: 'tag clear-reason' });
  const root = h(
    'li',
    { class: 'alert-row' },
    severity,
    h('div', { class: 'alert-main' }, h('div', { class: 'alert-title' }, rule, description), h('div', { class: 'alert-sub' }, ...(options.showDevice ? [device] : []), timing)),
    h('div', { class: 'alert-measure' }, value, label),
    h('div', { class: 'alert-side' }, ackButton, ackBy, reason, ackError),
  );
  let shownId = '';

  return {
    root,
    update(alert, now) {
      if (shownId !== alert.alertId) {
        shownId = alert.alertId;
        root.dataset.alertId = alert.alertId;
        root.dataset.deviceId = alert.deviceId;
        ackButton.dataset.alertId = alert.alertId;
        device.href = `#/device/${encodeURIComponent(alert.deviceId)}`;
        setText(device, alert.deviceId);
        setText(ackError, '');
      }
      root.dataset.severity = alert.severity;
      root.dataset.state = alert.state;
      root.dataset.acked = String(alert.ackBy !== undefined);
      setText(severity, alert.severity);
      setText(rule, alert.ruleId);
      setText(description, alert.description);
      setText(timing, alertTiming(alert, now));
      timing.dateTime = new Date(alert.raisedAt).toISOString();
      timing.title = `raised ${clockDateTime(alert.raisedAt)}${alert.state === 'cleared' ? `, cleared ${clockDateTime(alert.ts)}` : ''}`;
      const measure = describeMeasure(alert);
      setText(value, measure.value);
      setText(label, measure.label);
      const open = alert.state === 'open';
      ackButton.hidden = !open || alert.ackBy !== undefined;
      ackBy.hidden = alert.ackBy === undefined;
      setText(ackBy, ackText(alert, now));
      reason.hidden = open;
      setText(reason, open ? '' : clearReasonText(alert.clearReason));
      reason.dataset.reason = alert.clearReason ?? '';
    },
  };
}

/**
 * Keeps `list` showing `alerts` in their order, one row per alert, reusing the rows it already has; `empty` (an
 * element of its own) is shown instead when there are none.
 */
export function renderAlertRows(list: HTMLElement, rows: Map<string, AlertRow>, alerts: readonly AlertTransition[], now: number, options: { showDevice: boolean; empty: HTMLElement }): void {
  const seen = new Set<string>();
  const ordered: HTMLElement[] = [];
  for (const alert of alerts) {
    let row = rows.get(alert.alertId);
    if (!row) {
      row = createAlertRow(options);
      rows.set(alert.alertId, row);
    }
    row.update(alert, now);
    seen.add(alert.alertId);
    ordered.push(row.root);
  }
  for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
  if (ordered.length === 0) ordered.push(options.empty);
  // Only when the order or membership changed: moving nodes costs layout, and a row being clicked must stay put.
  const current = list.children;
  let same = current.length === ordered.length;
  for (let i = 0; same && i < ordered.length; i++) same = current[i] === ordered[i];
  if (!same) list.replaceChildren(...ordered);
}

/** Acknowledges on a click of any row's button inside `container`, under the name `by()` gives. */
export function handleAckClicks(container: HTMLElement, store: AlertStore, by: () => string): void {
  container.addEventListener('click', (event) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button.ack');
    const alertId = button?.dataset.alertId;
    if (!button || !alertId || button.disabled) return;
    const error = button.parentElement?.querySelector('.ack-error');
    button.disabled = true;
    setText(button, 'Acknowledging…');
    if (error) setText(error, '');
    void store.acknowledge(alertId, by()).then((result) => {
      button.disabled = false;
      setText(button, 'Acknowledge');
      if (!result.ok && error) setText(error, result.message);
    });
  });
}
