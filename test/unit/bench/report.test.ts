import { describe, expect, it } from 'vitest';
import { describeGateways } from '../../../bench/report.js';

describe('the bench table', () => {
  it('gives each gateway of several its line: devices, connections, memory, CPU, restarts', () => {
    expect(
      describeGateways([
        { index: 0, connectedAtStart: 500, connections: 500, failedConnects: 0, rssMiB: 141.2, rssPeakMiB: 150, cpuPerMessageUs: 31, restarts: 0 },
        { index: 1, connectedAtStart: 500, connections: 1000, failedConnects: 240, rssMiB: 98.4, rssPeakMiB: 160.3, cpuPerMessageUs: 18, restarts: 1 },
      ]).split('\n'),
    ).toEqual([
      '#0: 500 devices at the start, 500 connections in all; RSS 141 MiB (peak 150); CPU 31 µs per message',
      '#1: 500 devices at the start, 1,000 connections in all (240 failed connects handed to another gateway); RSS 98 MiB (peak 160); CPU 18 µs per message; restarted 1×',
    ]);
  });
});
