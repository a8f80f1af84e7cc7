/**
 * Where the CPU goes during the load: seconds of CPU per process (all threads, from /proc) and the whole
 * machine's busy share. On a small co-located box the ingest rate is bounded by the sum of everyone's CPU per
 * message, so the bench reports that sum, not only the gateway's.
 */
import { readFile } from 'node:fs/promises';

/** Linux reports process times in clock ticks; 100 per second on every mainstream kernel build. */
const TICKS_PER_SECOND = 100;

export interface MachineCpu {
  busyTicks: number;
  totalTicks: number;
}

/** User + system CPU seconds a process has used so far, or undefined once it is gone or off Linux. */
export async function processCpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    return parseProcessStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Fields 14 and 15 of /proc/<pid>/stat (utime, stime); the command name in field 2 may hold spaces. */
export function parseProcessStat(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / TICKS_PER_SECOND : undefined;
}

export async function machineCpu(): Promise<MachineCpu | undefined> {
  try {
    return parseMachineStat(await readFile('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** The aggregate `cpu` line: idle and iowait are not busy; everything else (steal included) is. */
export function parseMachineStat(stat: string): MachineCpu | undefined {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busyTicks: total - idle, totalTicks: total };
}

export interface CpuProbe {
  name: string;
  seconds(): Promise<number | undefined>;
}

export interface CpuReport {
  /** CPU microseconds per acknowledged message, per process (all its threads, GC included). */
  perMessageUs: Record<string, number>;
  /** Sum over the processes above, `rest` (the machine's other busy time: Kafka, …) included. */
  totalPerMessageUs: number;
  /** Share of all cores busy during the load, whoever used them (Kafka and the store included). */
  machineBusyPercent: number | null;
  seconds: number;
}

/** Snapshot now; `finish(messages)` divides what each process used since by the messages acknowledged. */
export async function startCpuWindow(probes: CpuProbe[]): Promise<{ finish(messages: number): Promise<CpuReport> }> {
  const startedAt = performance.now();
  const before = await Promise.all(probes.map((probe) => probe.seconds()));
  const machineBefore = await machineCpu();
  return {
    async finish(messages) {
      const after = await Promise.all(probes.map((probe) => probe.seconds()));
      const machineAfter = await machineCpu();
      const perMessageUs: Record<string, number> = {};
      probes.forEach((probe, i) => {
        const from = before[i];
        const to = after[i];
        if (from !== undefined && to !== undefined && messages > 0) perMessageUs[probe.name] = Math.round(((to - from) * 1e6) / messages);
      });
      const known = Object.values(perMessageUs).reduce((sum, us) => sum + us, 0);
      let machineBusyPercent: number | null = null;
      if (machineBefore && machineAfter && machineAfter.totalTicks > machineBefore.totalTicks && messages > 0) {
        const busyTicks = machineAfter.busyTicks - machineBefore.busyTicks;
        machineBusyPercent = Math.round((1000 * busyTicks) / (machineAfter.totalTicks - machineBefore.totalTicks)) / 10;
        // Kafka, the bench's own helpers and anything else running: the machine's busy time not named above.
        perMessageUs.rest = Math.max(0, Math.round(((busyTicks / TICKS_PER_SECOND) * 1e6) / messages) - known);
      }
      return {
        perMessageUs,
        totalPerMessageUs: Object.values(perMessageUs).reduce((sum, us) => sum + us, 0),
        machineBusyPercent,
        seconds: Math.round(performance.now() - startedAt) / 1000,
      };
    },
  };
}

export function describeCpu(cpu: CpuReport): string {
  const parts = Object.entries(cpu.perMessageUs).map(([name, us]) => `${name} ${us}`);
  const busy = cpu.machineBusyPercent === null ? '' : `; all cores ${cpu.machineBusyPercent} % busy`;
  return `CPU per acknowledged message (µs, all threads, GC included, over ${cpu.seconds} s of load): ${parts.join(' · ')} = ${cpu.totalPerMessageUs}${busy}; rest = the machine's other busy time (Kafka above all)`;
}
