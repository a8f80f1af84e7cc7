import { describe, expect, it } from 'vitest';
import { readingToPoint } from '../../../../consumers/stores/influx.js';
import type { Reading } from '../../../../core/reading.js';

const base: Reading = { deviceId: 'd1', metric: 'burst', value: 1, ts: 1_732_492_800_123, timeNs: '1732492800123456789', receivedAt: 1_732_492_800_124 };

describe('InfluxDB points (docs/contracts.md §5)', () => {
  it('stamps a point with the reading timeNs, every digit, as nanoseconds', () => {
    expect(readingToPoint(base).toLineProtocol()).toBe('burst,device=d1 value=1 1732492800123456789');
  });

  it('gives two readings of one millisecond two timestamps, so the store keeps both', () => {
    const second = { ...base, value: 2, timeNs: '1732492800123456790' };
    const lines = [base, second].map((r) => readingToPoint(r).toLineProtocol() ?? '');
    expect(new Set(lines.map((line) => line.split(' ').at(-1))).size).toBe(2);
  });

  it('writes a record from before timeNs (decoded with ts in ns) at its millisecond, the point it was stored as then', () => {
    expect(readingToPoint({ ...base, timeNs: '1732492800123000000' }).toLineProtocol()).toBe('burst,device=d1 value=1 1732492800123000000');
  });
});
