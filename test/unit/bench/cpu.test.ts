import { describe, expect, it } from 'vitest';
import { describeCpu, parseMachineStat, parseProcessStat, startCpuWindow } from '../../../bench/cpu.js';

describe('bench CPU accounting', () => {
  it('reads utime + stime from /proc/<pid>/stat even when the command name holds spaces and parentheses', () => {
    // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    const stat = '4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 566 0 0 20 0 11 0 100 0 0';
    expect(parseProcessStat(stat)).toBeCloseTo(18.0, 5);
  });

  it('counts idle and iowait as not busy, everything else (steal included) as busy', () => {
    const stat = 'cpu  100 5 50 800 40 0 5 0 0 0\ncpu0 50 2 25 400 20 0 3 0 0 0\nintr 1 2 3\n';
    expect(parseMachineStat(stat)).toEqual({ busyTicks: 160, totalTicks: 1000 });
    expect(parseMachineStat('intr 1 2 3\n')).toBeUndefined();
  });

  it('describes the per-message split with the machine share', () => {
    const text = describeCpu({ perMessageUs: { sluice: 120, bench: 40, rest: 10 }, totalPerMessageUs: 170, machineBusyPercent: 87.5, seconds: 20 });
    expect(text).toContain('sluice 120 · bench 40 · rest 10 = 170');
    expect(text).toContain('87.5 % busy');
  });

  it('divides each process\'s CPU over the window by the messages acknowledged, and skips a process that is gone', async () => {
    let gateway = 10;
    const window = await startCpuWindow([
      { name: 'gateway', seconds: async () => gateway },
      { name: 'gone', seconds: async () => undefined },
    ]);
    gateway = 12.5;
    const report = await window.finish(20_000);
    expect(report.perMessageUs.gateway).toBe(125);
    expect(report.perMessageUs).not.toHaveProperty('gone');
    expect(report.totalPerMessageUs).toBeGreaterThanOrEqual(125);
  });
});
