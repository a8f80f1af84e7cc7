import type uPlot from 'uplot';
import type { Severity } from '../protocol.js';

/** Axis settings shared by every chart: theme colours from CSS variables, whole seconds on the time axis. */

const pad = (n: number) => String(n).padStart(2, '0');

export function themeColor(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function axes(valueAxisSize: number): uPlot.Axis[] {
  const base = {
    stroke: themeColor('--muted', '#5f6b7a'),
    grid: { stroke: themeColor('--grid', '#e6e9ee'), width: 1 },
    ticks: { show: false },
    font: '11px system-ui, sans-serif',
  };
  return [
    {
      ...base,
      // Readings are seconds apart at best: no sub-second ticks, and plain HH:MM:SS labels.
      incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
      values: (_u: uPlot, splits: number[]) =>
        splits.map((s) => {
          const d = new Date(s * 1000);
          return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
        }),
    },
    { ...base, size: valueAxisSize },
  ];
}

const SEVERITY_FALLBACK: Record<Severity, string> = { info: '#2563eb', warning: '#d97706', critical: '#dc2626' };

/** The colour of a severity, as the stylesheet defines it (`--sev-<severity>`). */
export function severityColor(severity: Severity): string {
  return themeColor(`--sev-${severity}`, SEVERITY_FALLBACK[severity]);
}
