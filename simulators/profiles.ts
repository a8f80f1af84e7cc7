/**
 * Device profiles: pure functions `(seed, deviceIndex, t) → metrics` (t = device time in epoch ms).
 * No state between calls, so the same seed gives the same signal whatever order or rate it is sampled at,
 * and a test can check any instant on its own. Every device gets its own parameters from the seed and its
 * index (a warmer room, a bigger household, another route).
 */
import { gaussHash, stringWord, unitHash } from './prng.js';

export type Metrics = Record<string, number>;

export interface Profile {
  name: ProfileName;
  description: string;
  /** Messages per second per device when --rate is not given. */
  defaultRate: number;
  /** SenML unit names (RFC 8428 §12.1) per metric. */
  units: Readonly<Record<string, string>>;
  sample(seed: number, deviceIndex: number, t: number): Metrics;
}

export const PROFILE_NAMES = ['environment', 'vibration', 'smart-meter', 'gps', 'battery', 'mixed'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Origin of cumulative and drifting signals: a fixed date, so values do not depend on when the run started. */
const EPOCH_2024 = Date.UTC(2024, 0, 1);

const round = (value: number, decimals: number): number => {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
};
const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));

/** A per-device parameter in [min, max), fixed by seed, device and name. */
function param(seed: number, device: number, name: string, min: number, max: number): number {
  return min + unitHash(seed, device, stringWord(name)) * (max - min);
}

/** Noise that changes once per `stepMs` of device time (so two samples in the same step agree). */
function noise(seed: number, device: number, name: string, t: number, stepMs = 1000): number {
  return gaussHash(seed, device, stringWord(name), Math.floor(t / stepMs));
}

/** Phase of the day in [0, 1), 0 at midnight UTC. */
const dayPhase = (t: number): number => (((t % DAY) + DAY) % DAY) / DAY;

export const environment: Profile = {
  name: 'environment',
  description: 'temperature, humidity and pressure with a daily cycle and noise',
  defaultRate: 1,
  units: { temperature: 'Cel', humidity: '%RH', pressure: 'Pa' },
  sample(seed, device, t) {
    const base = param(seed, device, 'temperature.base', 14, 24);
    const swing = param(seed, device, 'temperature.swing', 2, 6);
    // Warmest mid-afternoon: the cosine peaks at 15:00.
    const daily = Math.cos(2 * Math.PI * (dayPhase(t) - 15 / 24));
    const temperature = base + swing * daily + 0.15 * noise(seed, device, 'temperature', t);
    const humidity = clamp(param(seed, device, 'humidity.base', 35, 65) - 2.5 * swing * daily + 1.5 * noise(seed, device, 'humidity', t), 5, 100);
    const weather = Math.sin((2 * Math.PI * (t - EPOCH_2024)) / (3.3 * DAY) + param(seed, device, 'pressure.phase', 0, 6.28));
    const pressure = 101_325 + 900 * weather + 20 * noise(seed, device, 'pressure', t);
    return { temperature: round(temperature, 2), humidity: round(humidity, 1), pressure: round(pressure, 0) };
  },
};

export const vibration: Profile = {
  name: 'vibration',
  description: 'RMS and peak acceleration sampled fast, with bursts of a few seconds',
  defaultRate: 10,
  units: { vibration_rms: 'm/s2', vibration_peak: 'm/s2', vibration_freq: 'Hz' },
  sample(seed, device, t) {
    const base = param(seed, device, 'rms.base', 0.5, 2);
    // 10-second windows; about one in ten is a burst (a bearing knock, a passing truck).
    const window = Math.floor(t / 10_000);
    const burst = unitHash(seed, device, stringWord('burst'), window) < 0.1;
    const gain = burst ? 5 + 10 * unitHash(seed, device, stringWord('burst.gain'), window) : 1;
    const rms = Math.max(0.01, base * gain * (1 + 0.1 * noise(seed, device, 'rms', t, 100)));
    const peak = rms * (1.5 + 0.2 * Math.abs(noise(seed, device, 'peak', t, 100)));
    const freq = param(seed, device, 'freq', 25, 120) * (burst ? 1.8 : 1) + 2 * noise(seed, device, 'freq', t, 100);
    return { vibration_rms: round(rms, 3), vibration_peak: round(peak, 3), vibration_freq: round(Math.max(1, freq), 1) };
  },
};

export const smartMeter: Profile = {
  name: 'smart-meter',
  description: 'power with a daily load curve, cumulative energy (never decreasing) and mains voltage',
  defaultRate: 0.2,
  units: { power: 'W', energy: 'kWh', voltage: 'V' },
  sample(seed, device, t) {
    const mean = param(seed, device, 'power.mean', 250, 1500);
    const swing = 0.6 * mean;
    // Evening peak at 19:00. Energy is the exact integral of the smooth curve, so it only grows.
    const omega = (2 * Math.PI) / DAY;
    const phase = (19 / 24) * DAY;
    const smooth = (x: number): number => mean + swing * Math.cos(omega * (x - phase));
    const integralWh = (x: number): number => (mean * x + (swing / omega) * Math.sin(omega * (x - phase))) / HOUR;
    const elapsed = Math.max(0, t - EPOCH_2024);
    const energyKWh = param(seed, device, 'energy.start', 100, 5000) + (integralWh(elapsed + EPOCH_2024) - integralWh(EPOCH_2024)) / 1000;
    const power = Math.max(0, smooth(t) * (1 + 0.05 * noise(seed, device, 'power', t)));
    const voltage = 230 + 3 * noise(seed, device, 'voltage', t, 5000);
    return { power: round(power, 1), energy: round(energyKWh, 3), voltage: round(voltage, 1) };
  },
};

export const gps: Profile = {
  name: 'gps',
  description: 'a tracker driving a loop: latitude, longitude and speed',
  defaultRate: 1,
  units: { latitude: 'lat', longitude: 'lon', speed: 'm/s' },
  sample(seed, device, t) {
    const centerLat = param(seed, device, 'lat', 40, 58);
    const centerLon = param(seed, device, 'lon', -5, 25);
    const radiusM = param(seed, device, 'radius', 500, 5000);
    const periodMs = param(seed, device, 'period', 10, 60) * 60_000;
    const angle = (2 * Math.PI * (t - EPOCH_2024)) / periodMs + param(seed, device, 'angle', 0, 6.28);
    const metersPerDegLat = 111_320;
    const metersPerDegLon = metersPerDegLat * Math.cos((centerLat * Math.PI) / 180);
    const latitude = centerLat + (radiusM * Math.sin(angle)) / metersPerDegLat;
    const longitude = centerLon + (radiusM * Math.cos(angle)) / metersPerDegLon;
    const speed = Math.max(0, (2 * Math.PI * radiusM) / (periodMs / 1000) * (1 + 0.05 * noise(seed, device, 'speed', t)));
    return { latitude: round(latitude, 6), longitude: round(longitude, 6), speed: round(speed, 2) };
  },
};

export const battery: Profile = {
  name: 'battery',
  description: 'a Li-ion cell discharging over one to three days, then recharged',
  defaultRate: 0.1,
  units: { battery_voltage: 'V', battery_level: '%' },
  sample(seed, device, t) {
    const cycleMs = param(seed, device, 'cycle', 1, 3) * DAY;
    const offset = param(seed, device, 'offset', 0, 1) * cycleMs;
    const used = (((t - EPOCH_2024 + offset) % cycleMs) + cycleMs) % cycleMs / cycleMs;
    const level = 100 * (1 - used);
    // A flat middle and steeper ends, roughly like a real discharge curve: 4.2 V full, 3.0 V empty.
    const voltage = 3.0 + 1.2 * (0.5 + 0.5 * Math.tanh(3 * (1 - used) - 1.5)) + 0.005 * noise(seed, device, 'voltage', t);
    return { battery_voltage: round(clamp(voltage, 2.9, 4.25), 3), battery_level: round(clamp(level, 0, 100), 1) };
  },
};

const CONCRETE: readonly Profile[] = [environment, vibration, smartMeter, gps, battery];

/** A mixed fleet: device i behaves like profile i mod 5. */
export const mixed: Profile = {
  name: 'mixed',
  description: 'every fifth device of each kind: environment, vibration, smart meter, GPS, battery',
  defaultRate: 1,
  units: Object.assign({}, ...CONCRETE.map((p) => p.units)) as Record<string, string>,
  sample: (seed, device, t) => profileForDevice(mixed, device).sample(seed, device, t),
};

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  environment,
  vibration,
  'smart-meter': smartMeter,
  gps,
  battery,
  mixed,
};

/** The concrete profile a device of a fleet follows (for `mixed`, by its index). */
export function profileForDevice(profile: Profile, deviceIndex: number): Profile {
  return profile.name === 'mixed' ? CONCRETE[deviceIndex % CONCRETE.length]! : profile;
}

export function getProfile(name: string): Profile {
  if (!(PROFILE_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown profile "${name}" (profiles: ${PROFILE_NAMES.join(', ')})`);
  }
  return PROFILES[name as ProfileName];
}
