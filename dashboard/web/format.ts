import type { ReadingValue } from '../protocol.js';

/** SenML unit names as people read them. */
const UNIT_LABELS: Record<string, string> = {
  Cel: '°C',
  K: 'K',
  '%RH': '%RH',
  '%': '%',
  V: 'V',
  A: 'A',
  W: 'W',
  Pa: 'Pa',
  hPa: 'hPa',
  lx: 'lx',
  m: 'm',
  'm/s': 'm/s',
  ppm: 'ppm',
  dB: 'dB',
};

export function unitLabel(unit: string | undefined): string {
  if (!unit) return '';
  return UNIT_LABELS[unit] ?? unit;
}

export function formatValue(value: ReadingValue): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return String(value);
    const abs = Math.abs(value);
    if (abs >= 100_000) return value.toExponential(2);
    if (abs >= 1000 || Number.isInteger(value)) return String(Math.round(value * 10) / 10);
    return value.toFixed(abs >= 100 ? 1 : 2);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return value.length > 24 ? `${value.slice(0, 23)}…` : value;
}

export function formatRate(perSec: number): string {
  if (perSec >= 1000) return `${(perSec / 1000).toFixed(1)}k`;
  return perSec.toFixed(1);
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** "4s", "12m", "3h", "2d": short enough for a fixed-width cell. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

export function formatTime(ts: number): string {
  const d = new Date(ts);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export { numeric } from './values.js';

/** Sets text only when it changed: no DOM writes (and no style recalculation) for unchanged cells. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') el.className = value;
    else el.setAttribute(name, value);
  }
  for (const child of children) el.append(child);
  return el;
}
