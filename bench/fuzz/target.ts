/**
 * What the fuzz can see of the gateway from outside: its resident memory (from /proc when it runs on this
 * machine, else from its Prometheus metrics) and whether it still lives (its pid, its /healthz).
 */
import { readFile } from 'node:fs/promises';

export interface TargetOptions {
  pid?: number;
  /** The dashboard's /metrics; its RSS is read from `process_resident_memory_bytes` (any prefix). */
  metricsUrl?: string;
  healthUrl?: string;
  /** Dashboard token for /metrics. */
  token?: string;
}

export interface TargetProbe {
  /** Bytes, or undefined when no source is configured or the read failed. */
  rssBytes(): Promise<number | undefined>;
  /** Undefined when nothing is configured to check; otherwise whether every configured check passes. */
  alive(): Promise<{ alive: boolean; detail: string } | undefined>;
  /** The gateway's refusal counters by reason (`mqtt_refusals_total`), when /metrics is configured and has them. */
  refusals(): Promise<Record<string, number> | undefined>;
}

export async function rssFromProc(pid: number): Promise<number | undefined> {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function rssFromMetrics(text: string): number | undefined {
  const match = /^(?:\w+_)?process_resident_memory_bytes(?:\{[^}]*\})?\s+(\S+)/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

export function refusalsFromMetrics(text: string): Record<string, number> | undefined {
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^(?:\w+_)?mqtt_refusals_total\{reason="([^"]+)"\}\s+(\S+)/gm)) counts[match[1]!] = Number(match[2]);
  return Object.keys(counts).length > 0 ? counts : undefined;
}

function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function createTargetProbe(options: TargetOptions): TargetProbe {
  const headers: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const metrics = async (): Promise<string | undefined> => {
    if (!options.metricsUrl) return undefined;
    try {
      const response = await fetch(options.metricsUrl, { headers, signal: AbortSignal.timeout(5000) });
      return response.ok ? await response.text() : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    async rssBytes() {
      if (options.pid !== undefined) return rssFromProc(options.pid);
      const text = await metrics();
      return text === undefined ? undefined : rssFromMetrics(text);
    },
    async refusals() {
      const text = await metrics();
      return text === undefined ? undefined : refusalsFromMetrics(text);
    },
    async alive() {
      if (options.pid === undefined && !options.healthUrl) return undefined;
      const problems: string[] = [];
      if (options.pid !== undefined && !pidRunning(options.pid)) problems.push(`pid ${options.pid} is gone`);
      if (options.healthUrl) {
        const status = await fetch(options.healthUrl, { signal: AbortSignal.timeout(5000) }).then(
          (response) => String(response.status),
          (error: unknown) => (error as Error).message,
        );
        if (status !== '200') problems.push(`${options.healthUrl}: ${status}`);
      }
      return problems.length === 0 ? { alive: true, detail: 'alive' } : { alive: false, detail: problems.join('; ') };
    },
  };
}

export interface RssWatch {
  peak(): number | undefined;
  stop(): void;
}

/** Samples the RSS every `everyMs`; the peak is the largest sample (short spikes between samples are missed). */
export function watchRss(probe: TargetProbe, everyMs: number, first?: number): RssWatch {
  let peak = first;
  let reading = false;
  const timer = setInterval(() => {
    if (reading) return;
    reading = true;
    void probe.rssBytes().then((rss) => {
      reading = false;
      if (rss !== undefined) peak = Math.max(peak ?? 0, rss);
    });
  }, everyMs);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}
