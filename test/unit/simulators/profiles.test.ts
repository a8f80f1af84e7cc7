import { describe, expect, it } from 'vitest';
import { getProfile, PROFILE_NAMES, PROFILES, profileForDevice, smartMeter, battery, type Profile } from '../../../simulators/profiles.js';

const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);
const HOUR = 3_600_000;

function series(profile: Profile, seed: number, device: number, count: number, stepMs: number) {
  return Array.from({ length: count }, (_, i) => profile.sample(seed, device, T0 + i * stepMs));
}

const RANGES: Record<string, [number, number]> = {
  temperature: [-10, 45],
  humidity: [5, 100],
  pressure: [95_000, 106_000],
  vibration_rms: [0, 60],
  vibration_peak: [0, 120],
  vibration_freq: [1, 400],
  power: [0, 5000],
  energy: [100, 200_000],
  voltage: [200, 260],
  latitude: [39, 59],
  longitude: [-6, 26],
  speed: [0, 60],
  battery_voltage: [2.9, 4.25],
  battery_level: [0, 100],
};

describe('profiles', () => {
  it.each(PROFILE_NAMES)('%s gives the same values for the same seed, device and time', (name) => {
    const profile = getProfile(name);
    expect(series(profile, 42, 3, 50, 1000)).toEqual(series(profile, 42, 3, 50, 1000));
  });

  it.each(PROFILE_NAMES)('%s differs between seeds and between devices', (name) => {
    const profile = getProfile(name);
    expect(series(profile, 1, 0, 10, 1000)).not.toEqual(series(profile, 2, 0, 10, 1000));
    expect(series(profile, 1, 0, 10, 1000)).not.toEqual(series(profile, 1, 5, 10, 1000));
  });

  it.each(PROFILE_NAMES)('%s stays in plausible ranges over two days on 50 devices, with a unit per metric', (name) => {
    const profile = getProfile(name);
    for (let device = 0; device < 50; device++) {
      for (const sample of series(profile, 7, device, 97, HOUR / 2)) {
        for (const [metric, value] of Object.entries(sample)) {
          const range = RANGES[metric];
          expect(range, metric).toBeDefined();
          expect(Number.isFinite(value)).toBe(true);
          expect(value, `${name} ${metric}`).toBeGreaterThanOrEqual(range![0]);
          expect(value, `${name} ${metric}`).toBeLessThanOrEqual(range![1]);
          expect(profileForDevice(profile, device).units[metric], metric).toBeTypeOf('string');
        }
      }
    }
  });

  it('environment has a daily cycle: afternoon warmer than the early morning', () => {
    const environment = PROFILES.environment;
    const day = Date.UTC(2025, 5, 1);
    for (let device = 0; device < 10; device++) {
      const morning = environment.sample(1, device, day + 4 * HOUR).temperature!;
      const afternoon = environment.sample(1, device, day + 15 * HOUR).temperature!;
      expect(afternoon).toBeGreaterThan(morning + 2);
    }
  });

  it('smart meter energy never decreases', () => {
    for (let device = 0; device < 10; device++) {
      const energy = series(smartMeter, 3, device, 200, 10 * 60_000).map((s) => s.energy!);
      for (let i = 1; i < energy.length; i++) expect(energy[i]!).toBeGreaterThanOrEqual(energy[i - 1]!);
      expect(energy.at(-1)!).toBeGreaterThan(energy[0]!);
    }
  });

  it('vibration has bursts: some 10-second windows are several times louder', () => {
    const rms = series(PROFILES.vibration, 5, 0, 600, 1000).map((s) => s.vibration_rms!);
    const sorted = [...rms].sort((a, b) => a - b);
    expect(sorted.at(-1)!).toBeGreaterThan(3 * sorted[Math.floor(sorted.length / 2)]!);
  });

  it('battery voltage drifts down between recharges', () => {
    const voltages = series(battery, 9, 1, 12, HOUR).map((s) => s.battery_voltage!);
    const drops = voltages.slice(1).filter((v, i) => v < voltages[i]!).length;
    expect(drops).toBeGreaterThanOrEqual(9);
  });

  it('a mixed fleet cycles through the five kinds', () => {
    const kinds = Array.from({ length: 5 }, (_, i) => profileForDevice(PROFILES.mixed, i).name);
    expect(new Set(kinds)).toEqual(new Set(['environment', 'vibration', 'smart-meter', 'gps', 'battery']));
    expect(PROFILES.mixed.sample(1, 1, T0)).toEqual(PROFILES.vibration.sample(1, 1, T0));
  });

  it('rejects an unknown profile name', () => {
    expect(() => getProfile('toaster')).toThrow(/unknown profile/);
  });
});
