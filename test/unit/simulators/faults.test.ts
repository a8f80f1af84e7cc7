import { describe, expect, it } from 'vitest';
import { messageFault, pickDevices, validateShares, NO_FAULTS } from '../../../simulators/faults.js';

describe('fault selection', () => {
  it('picks exactly round(count × share) devices, the same ones for the same seed', () => {
    expect(pickDevices(1, 20, 0.1, 'wrong-secret').size).toBe(2);
    expect(pickDevices(1, 1000, 0.25, 'x').size).toBe(250);
    expect(pickDevices(1, 20, 0, 'x').size).toBe(0);
    expect([...pickDevices(3, 100, 0.1, 'x')]).toEqual([...pickDevices(3, 100, 0.1, 'x')]);
    expect([...pickDevices(3, 100, 0.1, 'x')]).not.toEqual([...pickDevices(4, 100, 0.1, 'x')]);
    // Different faults pick different devices.
    expect([...pickDevices(3, 100, 0.1, 'wrong-secret')]).not.toEqual([...pickDevices(3, 100, 0.1, 'abrupt-disconnect')]);
  });

  it('splits messages by the shares', () => {
    const shares = { ...NO_FAULTS, malformed: 0.1, oversized: 0.05, clockSkew: 0.2 };
    const counts = { malformed: 0, oversized: 0, 'clock-skew': 0, none: 0 };
    for (let device = 0; device < 20; device++) {
      for (let sequence = 0; sequence < 1000; sequence++) counts[messageFault(9, device, sequence, shares) ?? 'none']++;
    }
    expect(counts.malformed / 20_000).toBeCloseTo(0.1, 1);
    expect(counts.oversized / 20_000).toBeCloseTo(0.05, 1);
    expect(counts['clock-skew'] / 20_000).toBeCloseTo(0.2, 1);
    expect(messageFault(9, 3, 17, shares)).toBe(messageFault(9, 3, 17, shares));
  });

  it('injects nothing with zero shares', () => {
    for (let sequence = 0; sequence < 1000; sequence++) expect(messageFault(1, 0, sequence, NO_FAULTS)).toBeUndefined();
  });

  it('refuses shares outside 0..1 or adding up past 1', () => {
    expect(validateShares({ ...NO_FAULTS, wrongSecret: 1.5 })).toEqual(['wrongSecret share must be between 0 and 1']);
    expect(validateShares({ ...NO_FAULTS, malformed: 0.6, oversized: 0.6 })).toEqual(['message fault shares add up to more than 1']);
    expect(validateShares(NO_FAULTS)).toEqual([]);
  });
});
