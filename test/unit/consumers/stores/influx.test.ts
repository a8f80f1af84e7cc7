import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createInfluxStore, readingToPoint } from '../../../../consumers/stores/influx.js';
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

describe('InfluxDB store health', () => {
  // InfluxDB 3 answers /health only with a token; a ping without one would call a healthy store unreachable.
  it('pings /health with the token, and calls a store that refuses it unreachable', async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(request.headers.authorization === 'Token secret-token' ? 200 : 401).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await createInfluxStore({ url, token: 'secret-token', org: 'o', bucket: 'b' }).ping()).toBe(true);
      expect(await createInfluxStore({ url, token: 'wrong', org: 'o', bucket: 'b' }).ping()).toBe(false);
      expect(seen).toEqual(['Token secret-token', 'Token wrong']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
