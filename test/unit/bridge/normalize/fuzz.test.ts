import { describe, expect, it } from 'vitest';
import { DOCUMENT_FORMATS } from '../../../../core/reading.js';
import { telemetryTopic } from '../../../../core/topics.js';
import {
  defaultNormalizeOptions,
  METRIC_NAME_PATTERN,
  normalize,
  REJECTION_CODES,
  type NormalizeResult,
} from '../../../../bridge/normalize/index.js';
import { BASE_TOPIC, DEVICE, RECEIVED_AT } from './helpers.js';

/** mulberry32: tiny, seedable, good enough to spread inputs; the seed makes every failure reproducible. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOPICS = [BASE_TOPIC, ...DOCUMENT_FORMATS.map((format) => telemetryTopic(DEVICE, { format })), telemetryTopic(DEVICE, { metric: 'temp' })];

const SEEDS = [
  '{"temperature":21.5,"humidity":40,"ts":1732492800123,"tags":{"room":"a"},"units":{"temperature":"Cel"}}',
  '[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2,"s":3}]',
  'weather,location=us\\ midwest,season=summer temperature=82,msg="a \\"b\\"",n=5i,u=7u,ok=T 1465839830100400200\n# c\nm value=1',
  '{"readings":[{"metric":"a","value":1,"unit":"V","ts":"2024-11-25T00:00:00Z","tags":{"k":"v"}}]}',
  '[{"a":{"b":{"c":1}},"time":1732492800},{"x":"y"}]',
  '21.5',
];

/** Characters that steer the parsers into their branches: JSON structure, escapes, line-protocol separators. */
const ALPHABET = '{}[]":,=\\ \n\r\t#0123456789.eE-+iutfTFnaNIbvslrdg_$/\u00e9\u{1f600}\u0000';

function randomBytes(next: () => number): Buffer {
  const length = Math.floor(next() * 300);
  return Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
}

function randomText(next: () => number): Buffer {
  const chars = [...ALPHABET];
  const length = Math.floor(next() * 200);
  return Buffer.from(Array.from({ length }, () => chars[Math.floor(next() * chars.length)] ?? '').join(''));
}

/** A fixture with a few bytes flipped, inserted, deleted or the tail cut: near-valid input hits the deep paths. */
function mutated(next: () => number): Buffer {
  const seed = SEEDS[Math.floor(next() * SEEDS.length)] ?? '';
  const bytes = [...Buffer.from(seed)];
  const edits = 1 + Math.floor(next() * 4);
  for (let e = 0; e < edits; e += 1) {
    const at = Math.floor(next() * (bytes.length + 1));
    const op = next();
    if (op < 0.3) bytes[at] = Math.floor(next() * 256);
    else if (op < 0.55) bytes.splice(at, 0, ALPHABET.charCodeAt(Math.floor(next() * ALPHABET.length)) & 0xff);
    else if (op < 0.8) bytes.splice(at, 1);
    else bytes.length = at;
  }
  return Buffer.from(bytes);
}

function checkInvariants(result: NormalizeResult): void {
  expect(Array.isArray(result.readings)).toBe(true);
  expect(Array.isArray(result.rejections)).toBe(true);
  expect(result.readings.length + result.rejections.length).toBeGreaterThan(0);
  expect(result.readings.length + result.rejections.length).toBeLessThanOrEqual(
    defaultNormalizeOptions.maxReadingsPerMessage,
  );
  for (const r of result.readings) {
    expect(r.deviceId).toBe(DEVICE);
    expect(r.receivedAt).toBe(RECEIVED_AT);
    expect(r.metric).toMatch(METRIC_NAME_PATTERN);
    expect(r.metric.length).toBeLessThanOrEqual(defaultNormalizeOptions.maxMetricNameLength);
    expect(['number', 'boolean', 'string']).toContain(typeof r.value);
    if (typeof r.value === 'number') expect(Number.isFinite(r.value)).toBe(true);
    expect(Number.isSafeInteger(r.ts)).toBe(true);
    expect(r.ts).toBeGreaterThanOrEqual(0);
    expect(r.ts).toBeLessThanOrEqual(RECEIVED_AT + defaultNormalizeOptions.maxFutureSkewMs);
    if ('unit' in r) expect(typeof r.unit === 'string' && r.unit !== '').toBe(true);
    if ('tags' in r) {
      expect(Object.keys(r.tags ?? {}).length).toBeGreaterThan(0);
      for (const value of Object.values(r.tags ?? {})) expect(typeof value).toBe('string');
    }
  }
  for (const rejection of result.rejections) {
    expect(REJECTION_CODES).toContain(rejection.code);
    expect(rejection.reason.length).toBeGreaterThan(0);
    expect(rejection.reason.length).toBeLessThan(400);
    // The catch-all in normalize() turns a bug into UNKNOWN_FORMAT; garbage must never get there.
    expect(rejection.reason).not.toMatch(/^normalizer failed unexpectedly/);
  }
}

describe('normalize on generated garbage (seeded)', () => {
  const generators = [
    ['random bytes', randomBytes],
    ['random text from a parser-steering alphabet', randomText],
    ['mutated fixtures', mutated],
  ] as const;

  it.each(generators)('%s: 1500 inputs never throw, keep the invariants and are deterministic', (_name, generate) => {
    const next = prng(0x5111ce);
    const seen = new Set<string>();
    for (let i = 0; i < 1500; i += 1) {
      const payload = generate(next);
      const topic = TOPICS[i % TOPICS.length] ?? BASE_TOPIC;
      const input = { deviceId: DEVICE, topic, payload, receivedAt: RECEIVED_AT };
      let first: NormalizeResult | undefined;
      expect(() => {
        first = normalize(input);
      }, `input #${i} on ${topic}: ${payload.toString('base64')}`).not.toThrow();
      if (!first) throw new Error('unreachable');
      checkInvariants(first);
      expect(normalize(input)).toStrictEqual(first);
      for (const r of first.rejections) seen.add(r.code);
      if (first.readings.length > 0) seen.add('readings');
    }
    // Guards against a generator that only ever exercises one trivial path.
    expect(seen.size).toBeGreaterThan(1);
  });

  it('mutated fixtures reach both readings and several rejection codes', () => {
    const next = prng(42);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i += 1) {
      const result = normalize({ deviceId: DEVICE, topic: BASE_TOPIC, payload: mutated(next), receivedAt: RECEIVED_AT });
      for (const r of result.rejections) seen.add(r.code);
      if (result.readings.length > 0) seen.add('readings');
    }
    expect(seen).toContain('readings');
    expect([...seen].filter((code) => code !== 'readings').length).toBeGreaterThanOrEqual(5);
  });
});

describe('normalize on pathological 64 KiB inputs', () => {
  const digitsThenLetter = `${'1'.repeat(65_000)}x`;
  // Each took about 4 s with a backtracking number regex; linear parsing needs a few milliseconds.
  it.each([
    ['digits then a letter on the base topic', BASE_TOPIC, digitsThenLetter],
    ['digits then a letter on a metric topic', `${BASE_TOPIC}/m`, digitsThenLetter],
    ['digits then a letter as a line-protocol field', `${BASE_TOPIC}/$line`, `m value=${digitsThenLetter}`],
    ['digits then a letter as a JSON time', BASE_TOPIC, `{"a":1,"ts":"${digitsThenLetter}"}`],
    ['a run of backslashes after a measurement', BASE_TOPIC, `m,${'\\'.repeat(65_000)}`],
    ['a run of escaped quotes in a string field', `${BASE_TOPIC}/$line`, `m s="${'\\"'.repeat(32_000)}`],
    ['a run of "{"', BASE_TOPIC, '{'.repeat(65_000)],
  ])('%s is rejected in well under a second', (_name, topic, text) => {
    const started = performance.now();
    const result = normalize({ deviceId: DEVICE, topic, payload: Buffer.from(text), receivedAt: RECEIVED_AT });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(result.readings).toStrictEqual([]);
    expect(result.rejections).toHaveLength(1);
  });
});
