import { describe, expect, it } from 'vitest';
import {
  createNormalizeOptions,
  defaultNormalizeOptions,
  normalize,
  REJECTION_CODES,
  type NormalizeResult,
  type RejectionCode,
} from '../../../bridge/normalize/index.js';
import type { PayloadFormat } from '../../../core/reading.js';
import { BASE_TOPIC, codes, DEVICE, reading, RECEIVED_AT, run, untimed } from './normalize/helpers.js';

const TS = 1732492800123; // 2024-11-25T00:00:00.123Z

describe('normalize: one fixture per payload format', () => {
  const cases: { name: string; topic?: string; payload: string; readings: ReturnType<typeof reading>[] }[] = [
    {
      name: 'JSON object of metrics with ts, tags and units',
      payload: `{"temperature":21.5,"humidity":40,"ts":${TS},"tags":{"room":"lab","floor":2,"ok":true},"units":{"temperature":"Cel"}}`,
      readings: [
        reading('temperature', 21.5, { unit: 'Cel', ts: TS, tags: { room: 'lab', floor: '2', ok: 'true' } }),
        reading('humidity', 40, { ts: TS, tags: { room: 'lab', floor: '2', ok: 'true' } }),
      ],
    },
    {
      name: 'JSON object with boolean and short string values',
      payload: '{"door_open":true,"state":"idle"}',
      readings: [reading('door_open', true), reading('state', 'idle', untimed(1))],
    },
    {
      name: 'JSON object with `time` instead of `ts`',
      payload: `{"t1":1,"time":"2024-11-25T00:00:00.123Z"}`,
      readings: [reading('t1', 1, { ts: TS })],
    },
    {
      name: 'JSON object with `timestamp` in seconds',
      payload: '{"t1":1,"timestamp":1732492800}',
      readings: [reading('t1', 1, { ts: RECEIVED_AT })],
    },
    {
      name: 'nested JSON objects flattened into parent_child names, units keyed by flattened name',
      payload: '{"env":{"temp":21,"air":{"co2":400}},"units":{"env_temp":"Cel","env_air_co2":"ppm"}}',
      readings: [reading('env_temp', 21, { unit: 'Cel' }), reading('env_air_co2', 400, { unit: 'ppm', ...untimed(1) })],
    },
    {
      name: 'JSON array of metric objects, each with its own time',
      payload: `[{"temp":1,"ts":${TS}},{"temp":2,"ts":${TS + 1000}}]`,
      readings: [reading('temp', 1, { ts: TS }), reading('temp', 2, { ts: TS + 1000 })],
    },
    {
      name: 'readings envelope, envelope time and tags as defaults that entries override',
      payload: JSON.stringify({
        ts: TS,
        tags: { site: 'x', room: 'a' },
        readings: [
          { metric: 'temperature', value: 21.5, unit: 'Cel' },
          { metric: 'humidity', value: 40, ts: TS + 5, tags: { room: 'b' } },
        ],
      }),
      readings: [
        reading('temperature', 21.5, { unit: 'Cel', ts: TS, tags: { site: 'x', room: 'a' } }),
        reading('humidity', 40, { ts: TS + 5, tags: { site: 'x', room: 'b' } }),
      ],
    },
    {
      name: 'SenML pack detected by content',
      payload: '[{"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1}]',
      readings: [reading('temp', 23.1, { unit: 'Cel' })],
    },
    {
      name: 'InfluxDB line protocol detected by content',
      payload: 'env,room=a temp=21.5,hum=40i 1732492800123000000',
      readings: [
        reading('env_temp', 21.5, { ts: TS, tags: { room: 'a' } }),
        reading('env_hum', 40, { ts: TS, tags: { room: 'a' } }),
      ],
    },
    {
      name: 'plain number on the base topic becomes metric `value`',
      payload: '21.5',
      readings: [reading('value', 21.5)],
    },
    {
      name: 'plain boolean on the base topic becomes metric `value`',
      payload: 'false',
      readings: [reading('value', false)],
    },
    {
      name: 'plain number on a metric topic, surrounding whitespace ignored',
      topic: `${BASE_TOPIC}/temperature`,
      payload: ' 21.5\n',
      readings: [reading('temperature', 21.5)],
    },
    {
      name: 'plain boolean on a metric topic',
      topic: `${BASE_TOPIC}/door_open`,
      payload: 'true',
      readings: [reading('door_open', true)],
    },
    {
      name: 'short string on a metric topic',
      topic: `${BASE_TOPIC}/state`,
      payload: 'heating up',
      readings: [reading('state', 'heating up')],
    },
    {
      name: 'a JSON-looking payload on a metric topic is that metric’s string value',
      topic: `${BASE_TOPIC}/raw`,
      payload: '{"a":1}',
      readings: [reading('raw', '{"a":1}')],
    },
  ];

  it.each(cases)('$name', ({ topic, payload, readings }) => {
    const result = run(payload, topic);
    expect(result.rejections).toStrictEqual([]);
    expect(result.readings).toStrictEqual(readings);
  });
});

describe('normalize: format selection (the table in bridge/normalize/index.ts)', () => {
  const senmlLike = '[{"n":"temp","v":1}]';
  const cases: {
    name: string;
    topic?: string;
    payload: string;
    formatOverride?: PayloadFormat;
    metrics: string[];
  }[] = [
    { name: 'base topic: `[` with SenML records → SenML', payload: senmlLike, metrics: ['temp'] },
    { name: '$json suffix reads the same array as a JSON array', topic: `${BASE_TOPIC}/$json`, payload: senmlLike, metrics: ['n', 'v'] },
    {
      name: 'base topic: an array with a non-SenML key is a JSON array',
      payload: '[{"n":"temp","v":1,"room":"a"}]',
      metrics: ['n', 'v', 'room'],
    },
    {
      name: '$senml suffix forces SenML; unknown fields are ignored (RFC 8428 §4.4)',
      topic: `${BASE_TOPIC}/$senml`,
      payload: '[{"n":"temp","v":1,"room":"a"}]',
      metrics: ['temp'],
    },
    { name: 'base topic: array without SenML markers is a JSON array', payload: '[{"t":5,"u":1}]', metrics: ['t', 'u'] },
    { name: 'leading whitespace before `{` still selects JSON', payload: '\n  {"a":1}', metrics: ['a'] },
    { name: '$line suffix forces line protocol', topic: `${BASE_TOPIC}/$line`, payload: 'm value=1', metrics: ['m'] },
    { name: 'formatOverride value turns any text into a string reading', payload: 'm value=1', formatOverride: 'value', metrics: ['value'] },
    {
      name: 'formatOverride line wins over a $json suffix',
      topic: `${BASE_TOPIC}/$json`,
      payload: 'm value=1',
      formatOverride: 'line',
      metrics: ['m'],
    },
    {
      name: 'formatOverride senml wins over a metric topic',
      topic: `${BASE_TOPIC}/ignored`,
      payload: senmlLike,
      formatOverride: 'senml',
      metrics: ['temp'],
    },
  ];

  it.each(cases)('$name', ({ topic, payload, formatOverride, metrics }) => {
    const result = run(payload, topic, formatOverride === undefined ? undefined : { formatOverride });
    expect(result.rejections).toStrictEqual([]);
    expect(result.readings.map((r) => r.metric)).toStrictEqual(metrics);
  });
});

describe('normalize: line-protocol detection', () => {
  it('reads a payload as line protocol when any line parses, rejecting a bad first line by index', () => {
    const result = run('garbage\nm value=1');
    expect(result.readings.map((r) => r.metric)).toStrictEqual(['m']);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([
      { code: 'INVALID_LINE_PROTOCOL', index: 0 },
    ]);
  });
});

describe('normalize: every rejection code', () => {
  const big = (n: number): string => `{${Array.from({ length: n }, (_, i) => `"m${i}":${i}`).join(',')}}`;
  const nested = (levels: number): string => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
  const cases: {
    code: RejectionCode;
    name: string;
    topic?: string;
    payload: string | Buffer;
    readings?: number;
  }[] = [
    { code: 'PAYLOAD_TOO_LARGE', name: 'one byte over maxPayloadBytes', payload: Buffer.alloc(65_537, 0x20) },
    { code: 'EMPTY_PAYLOAD', name: 'zero bytes', payload: Buffer.alloc(0) },
    { code: 'EMPTY_PAYLOAD', name: 'only whitespace', payload: ' \n\t ' },
    { code: 'INVALID_UTF8', name: 'a lone 0xff byte', payload: Buffer.from([0x7b, 0xff, 0x7d]) },
    { code: 'INVALID_UTF8', name: 'an overlong encoding of "/"', payload: Buffer.from([0xc0, 0xaf]) },
    { code: 'INVALID_UTF8', name: 'a UTF-16 surrogate encoded in UTF-8', payload: Buffer.from([0xed, 0xa0, 0x80]) },
    { code: 'INVALID_JSON', name: 'truncated object', payload: '{"temperature":21.5,' },
    { code: 'INVALID_JSON', name: 'truncated array on $senml', topic: `${BASE_TOPIC}/$senml`, payload: '[{"n":"a"' },
    { code: 'UNKNOWN_FORMAT', name: 'prose on the base topic', payload: 'hello there' },
    { code: 'UNKNOWN_FORMAT', name: 'a quoted string on the base topic', payload: '"21.5"' },
    { code: 'INVALID_SENML', name: 'a $senml payload that is an object', topic: `${BASE_TOPIC}/$senml`, payload: '{"n":"a","v":1}' },
    { code: 'INVALID_SENML', name: 'bver newer than 10', payload: '[{"bver":11,"n":"a","v":1}]' },
    { code: 'INVALID_LINE_PROTOCOL', name: 'a field without "="', topic: `${BASE_TOPIC}/$line`, payload: 'weather temperature' },
    { code: 'INVALID_METRIC_NAME', name: 'metric starting with a digit', payload: '{"1st":1}' },
    { code: 'INVALID_METRIC_NAME', name: 'metric topic with a space', topic: `${BASE_TOPIC}/room temp`, payload: '1' },
    { code: 'INVALID_METRIC_NAME', name: 'metric longer than maxMetricNameLength', payload: `{"${'m'.repeat(129)}":1}` },
    { code: 'NON_FINITE_NUMBER', name: 'JSON 1e999 parses to Infinity', payload: '{"a":1e999}' },
    { code: 'NON_FINITE_NUMBER', name: 'plain NaN', payload: 'NaN' },
    { code: 'NON_FINITE_NUMBER', name: 'plain -Infinity on a metric topic', topic: `${BASE_TOPIC}/t`, payload: '-Infinity' },
    { code: 'NON_FINITE_NUMBER', name: 'line protocol inf', payload: 'm value=inf' },
    { code: 'STRING_TOO_LONG', name: 'a 257-character string value', payload: `{"s":"${'x'.repeat(257)}"}` },
    { code: 'STRING_TOO_LONG', name: 'a 257-character plain string', topic: `${BASE_TOPIC}/s`, payload: 'x'.repeat(257) },
    { code: 'TOO_MANY_READINGS', name: '1001 metrics in one object', payload: big(1001) },
    { code: 'TOO_DEEP', name: 'nine levels of objects', payload: nested(9) },
    { code: 'TOO_DEEP', name: 'a 60 KiB run of "["', payload: '['.repeat(60_000) },
    { code: 'BAD_TIMESTAMP', name: 'ts that is prose', payload: '{"a":1,"ts":"yesterday"}' },
    { code: 'BAD_TIMESTAMP', name: 'ts before 1970', payload: '{"a":1,"ts":"1969-12-31T23:59:59Z"}' },
    { code: 'UNSUPPORTED_VALUE', name: 'null metric', payload: '{"a":null}' },
    { code: 'UNSUPPORTED_VALUE', name: 'array inside a metric object', payload: '{"a":[1,2]}' },
    { code: 'UNSUPPORTED_VALUE', name: 'a top-level JSON scalar on $json', topic: `${BASE_TOPIC}/$json`, payload: '42' },
    { code: 'UNSUPPORTED_VALUE', name: 'control characters in a plain string', topic: `${BASE_TOPIC}/s`, payload: 'a\u0007b' },
    { code: 'NO_READINGS', name: 'an empty object', payload: '{}' },
    { code: 'NO_READINGS', name: 'an empty array', payload: '[]' },
    { code: 'NO_READINGS', name: 'only a time', payload: '{"ts":1732492800}' },
    { code: 'NO_READINGS', name: 'only comments on $line', topic: `${BASE_TOPIC}/$line`, payload: '# nothing\n\n' },
    { code: 'TOPIC_NOT_TELEMETRY', name: 'the status topic', topic: `devices/${DEVICE}/status`, payload: '1' },
    { code: 'TOPIC_NOT_TELEMETRY', name: 'another device’s telemetry topic', topic: 'devices/d2/telemetry', payload: '1' },
    { code: 'TOPIC_NOT_TELEMETRY', name: 'an unknown $ suffix', topic: `${BASE_TOPIC}/$xml`, payload: '1' },
  ];

  it('the table covers every code in REJECTION_CODES, but DUPLICATE_TIME, which always keeps a first reading (its own tests below)', () => {
    expect(new Set([...cases.map((c) => c.code), 'DUPLICATE_TIME'])).toStrictEqual(new Set(REJECTION_CODES));
  });

  it.each(cases)('$code: $name', ({ code, topic, payload }) => {
    const result = run(payload, topic);
    expect(result.readings).toStrictEqual([]);
    expect(codes(result)).toStrictEqual([code]);
    expect(result.rejections[0]?.reason).toMatch(/\S/);
  });

  it('accepts a payload of exactly maxPayloadBytes', () => {
    const body = '{"a":1}';
    const payload = Buffer.from(body + ' '.repeat(65_536 - body.length));
    const result = run(payload);
    expect(payload.length).toBe(65_536);
    expect(result.readings).toStrictEqual([reading('a', 1)]);
  });

  it('accepts exactly maxReadingsPerMessage readings', () => {
    const result = run(big(1000));
    expect(result.rejections).toStrictEqual([]);
    expect(result.readings).toHaveLength(1000);
  });

  it('accepts JSON nested exactly maxNestingDepth levels deep', () => {
    const result = run(nested(8));
    expect(result.rejections).toStrictEqual([]);
    expect(result.readings).toStrictEqual([reading('a_a_a_a_a_a_a_a', 1)]);
  });

  it('counts rejected parts towards maxReadingsPerMessage', () => {
    const lines = Array.from({ length: 3 }, (_, i) => (i === 1 ? 'broken' : `m value=${i}`)).join('\n');
    const result = run(lines, `${BASE_TOPIC}/$line`, { maxReadingsPerMessage: 2 });
    expect(codes(result)).toStrictEqual(['TOO_MANY_READINGS']);
    expect(result.readings).toStrictEqual([]);
  });

  it('quotes payload text in reasons only in truncated form', () => {
    const result = run(`{"${'x'.repeat(5000)}!":1}`);
    expect(codes(result)).toStrictEqual(['INVALID_METRIC_NAME']);
    expect(result.rejections[0]?.reason.length).toBeLessThan(300);
  });
});

describe('normalize: partial acceptance keeps valid parts and rejects each bad part once', () => {
  it('JSON object: good metrics kept, each bad metric one rejection without index', () => {
    const result = run('{"ok":1,"bad":null,"2bad":3,"also_ok":"x"}');
    expect(result.readings).toStrictEqual([reading('ok', 1), reading('also_ok', 'x', untimed(1))]);
    expect(result.rejections).toStrictEqual([
      { code: 'UNSUPPORTED_VALUE', reason: expect.stringContaining('"bad"') },
      { code: 'INVALID_METRIC_NAME', reason: expect.stringContaining('"2bad"') },
    ]);
  });

  it('JSON array: a bad element is rejected with its index, the others kept', () => {
    const result = run('[{"a":1},{"a":1,"ts":"never"},7,{"a":3}]');
    expect(result.readings).toStrictEqual([reading('a', 1), reading('a', 3, untimed(1))]);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([
      { code: 'BAD_TIMESTAMP', index: 1 },
      { code: 'UNSUPPORTED_VALUE', index: 2 },
    ]);
  });

  it('a bad time or bad tags reject every metric of their object with one rejection', () => {
    const badTime = run('{"a":1,"b":2,"c":3,"ts":true}');
    const badTags = run('{"a":1,"b":2,"tags":{"room":{"nested":1}}}');
    expect(badTime.readings).toStrictEqual([]);
    expect(codes(badTime)).toStrictEqual(['BAD_TIMESTAMP']);
    expect(badTags.readings).toStrictEqual([]);
    expect(codes(badTags)).toStrictEqual(['UNSUPPORTED_VALUE']);
  });

  it('readings envelope: bad entries rejected by index, unknown envelope keys rejected without index', () => {
    const result = run(
      JSON.stringify({
        readings: [{ metric: 'a', value: 1 }, { metric: 'b' }, { value: 3 }, { metric: 'c', value: [1] }, 'x'],
        seq: 5,
      }),
    );
    expect(result.readings).toStrictEqual([reading('a', 1)]);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([
      { code: 'UNSUPPORTED_VALUE', index: undefined },
      { code: 'UNSUPPORTED_VALUE', index: 1 },
      { code: 'INVALID_METRIC_NAME', index: 2 },
      { code: 'UNSUPPORTED_VALUE', index: 3 },
      { code: 'UNSUPPORTED_VALUE', index: 4 },
    ]);
  });

  it('readings envelope: entry unit and value types are checked', () => {
    const result = run('{"readings":[{"metric":"a","value":1,"unit":5},{"metric":"b","value":null}]}');
    expect(result.readings).toStrictEqual([]);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([
      { code: 'UNSUPPORTED_VALUE', index: 0 },
      { code: 'UNSUPPORTED_VALUE', index: 1 },
    ]);
  });

  it('line protocol: a bad line is rejected with its physical line index', () => {
    const result = run('# header\nm value=1\nm value=\nm value=3');
    expect(result.readings.map((r) => r.value)).toStrictEqual([1, 3]);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([
      { code: 'INVALID_LINE_PROTOCOL', index: 2 },
    ]);
  });
});

describe('normalize: reading fields', () => {
  it('takes deviceId from the connection, never from the payload', () => {
    const json = run('{"deviceId":"evil","device_id":"evil","temp":1}');
    const senml = run('[{"bn":"urn:dev:mac:evil:","n":"temp","v":1}]');
    for (const r of [...json.readings, ...senml.readings]) expect(r.deviceId).toBe(DEVICE);
    expect(json.readings.map((r) => r.metric)).toStrictEqual(['deviceId', 'device_id', 'temp']);
  });

  it('copies receivedAt and uses it as ts when the payload has no time', () => {
    const result = run('{"a":1}');
    expect(result.readings[0]?.receivedAt).toBe(RECEIVED_AT);
    expect(result.readings[0]?.ts).toBe(RECEIVED_AT);
  });

  it('omits tags when there are none and unit when none was given', () => {
    const result = run('{"a":1,"tags":{}}');
    expect(result.readings[0]).not.toHaveProperty('tags');
    expect(result.readings[0]).not.toHaveProperty('unit');
  });

  it('omits an empty unit and drops empty tag values', () => {
    const result = run('{"readings":[{"metric":"a","value":1,"unit":"","tags":{"room":"","site":"x"}}]}');
    expect(result.readings).toStrictEqual([reading('a', 1, { tags: { site: 'x' } })]);
  });

  it('keeps a tag key named __proto__ as an ordinary own tag', () => {
    const result = run('{"a":1,"tags":{"__proto__":"p"}}');
    const tags = result.readings[0]?.tags;
    expect(tags && Object.getPrototypeOf(tags)).toBe(Object.prototype);
    expect(tags && Object.hasOwn(tags, '__proto__')).toBe(true);
    expect(JSON.stringify(tags)).toBe('{"__proto__":"p"}');
  });

  it('takes no unit from Object.prototype for metrics named constructor or toString', () => {
    const result = run('{"constructor":1,"toString":2,"units":{}}');
    expect(result.readings).toStrictEqual([reading('constructor', 1), reading('toString', 2, untimed(1))]);
  });

  it.each(['device', 'ts_corrected'])('rejects the reserved tag key %s', (key) => {
    const result = run(`{"a":1,"tags":{"${key}":"x"}}`);
    expect(result.readings).toStrictEqual([]);
    expect(result.rejections).toStrictEqual([{ code: 'UNSUPPORTED_VALUE', reason: expect.stringContaining('reserved') }]);
  });

  it.each([
    ['tag value too long', `{"a":1,"tags":{"k":"${'v'.repeat(257)}"}}`, 'STRING_TOO_LONG'],
    ['tag key not a valid name', '{"a":1,"tags":{"bad key":"v"}}', 'UNSUPPORTED_VALUE'],
    ['tags not an object', '{"a":1,"tags":"room=a"}', 'UNSUPPORTED_VALUE'],
    ['tag number not finite', '{"a":1,"tags":{"k":1e999}}', 'NON_FINITE_NUMBER'],
    ['units not an object', '{"a":1,"units":["Cel"]}', 'UNSUPPORTED_VALUE'],
    ['a unit that is not a string', '{"a":1,"units":{"a":1}}', 'UNSUPPORTED_VALUE'],
    ['a unit longer than maxStringLength', `{"readings":[{"metric":"a","value":1,"unit":"${'u'.repeat(257)}"}]}`, 'STRING_TOO_LONG'],
  ])('rejects %s', (_name, payload, code) => {
    const result = run(payload);
    expect(result.readings).toStrictEqual([]);
    expect(codes(result)).toStrictEqual([code]);
  });

  it('counts string length in code points, not UTF-16 units', () => {
    const emoji = '😀'.repeat(256); // 512 UTF-16 units, 256 code points
    expect(run(`{"s":"${emoji}"}`).readings).toHaveLength(1);
    expect(codes(run(`{"s":"${emoji}😀"}`))).toStrictEqual(['STRING_TOO_LONG']);
  });
});

describe('normalize: the precise time (timeNs)', () => {
  const stamp = BigInt(RECEIVED_AT) * 1_000_000n + 123_456n;

  it('gives the untimed readings of a payload the receive stamp plus their place, in payload order', () => {
    const payload = JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ burst: i })));
    const result = run(payload, BASE_TOPIC, undefined, stamp);
    expect(result.readings.map((r) => [r.value, r.timeNs, r.ts])).toStrictEqual(
      Array.from({ length: 5 }, (_, i) => [i, (stamp + BigInt(i)).toString(), RECEIVED_AT]),
    );
  });

  it('counts only untimed readings for the place: device-timed ones between them take none', () => {
    const result = run('[{"a":1},{"a":2,"ts":1732492800},{"a":3}]', BASE_TOPIC, undefined, stamp);
    expect(result.readings.map((r) => r.timeNs)).toStrictEqual([stamp.toString(), '1732492800000000000', (stamp + 1n).toString()]);
  });

  it('gives a corrected future time the receive stamp, like any untimed reading', () => {
    const skew = defaultNormalizeOptions.maxFutureSkewMs;
    const result = run(`[{"a":1},{"a":2,"ts":${RECEIVED_AT + skew + 1}}]`, BASE_TOPIC, undefined, stamp);
    expect(result.readings.map((r) => [r.timeNs, r.tags])).toStrictEqual([
      [stamp.toString(), undefined],
      [(stamp + 1n).toString(), { ts_corrected: 'future' }],
    ]);
  });

  it('dead-letters a second reading of one metric at one device time in a payload as DUPLICATE_TIME, keeping the first', () => {
    const result = run('[{"a":1,"ts":1732492800123},{"a":2,"ts":1732492800123},{"b":3,"ts":1732492800123}]');
    expect(result.readings.map((r) => [r.metric, r.value])).toStrictEqual([['a', 1], ['b', 3]]);
    expect(result.rejections).toStrictEqual([{ code: 'DUPLICATE_TIME', reason: expect.stringContaining('"a"'), index: 1 }]);
  });

  it('keeps readings of one metric at one device time when their tags make them different series', () => {
    const result = run('m,room=a v=1 1732492800123000000\nm,room=b v=2 1732492800123000000', `${BASE_TOPIC}/$line`);
    expect(result.rejections).toStrictEqual([]);
    expect(result.readings).toHaveLength(2);
  });

  it('keeps two device times one nanosecond apart as two readings', () => {
    const result = run('m v=1 1732492800123000000\nm v=2 1732492800123000001', `${BASE_TOPIC}/$line`);
    expect(result.rejections).toStrictEqual([]);
    expect(result.readings.map((r) => r.timeNs)).toStrictEqual(['1732492800123000000', '1732492800123000001']);
  });

  it('rejects a maxReadingsPerMessage above the receive stamp reserve', () => {
    expect(() => run('1', BASE_TOPIC, { maxReadingsPerMessage: 1001 })).toThrow(/reserve/);
  });
});

describe('normalize: future times', () => {
  const skew = defaultNormalizeOptions.maxFutureSkewMs;

  it('keeps a time exactly maxFutureSkewMs ahead of receivedAt', () => {
    const result = run(`{"a":1,"ts":${RECEIVED_AT + skew}}`);
    expect(result.readings).toStrictEqual([reading('a', 1, { ts: RECEIVED_AT + skew })]);
  });

  it('replaces a time further ahead by receivedAt and tags it ts_corrected=future', () => {
    const result = run(`{"a":1,"ts":${RECEIVED_AT + skew + 1},"tags":{"room":"a"}}`);
    expect(result.readings).toStrictEqual([reading('a', 1, { ts: RECEIVED_AT, tags: { room: 'a', ts_corrected: 'future' } })]);
  });

  it('honours a custom maxFutureSkewMs', () => {
    const result = run(`{"a":1,"ts":${RECEIVED_AT + 1}}`, BASE_TOPIC, { maxFutureSkewMs: 0 });
    expect(result.readings[0]?.tags).toStrictEqual({ ts_corrected: 'future' });
  });

  it('corrects a line-protocol time in the far future', () => {
    const result = run('m value=1 9999999999999999999');
    expect(result.readings).toStrictEqual([reading('m', 1, { tags: { ts_corrected: 'future' } })]);
  });

  it('keeps a time far in the past (after 1970) as the device gave it', () => {
    const result = run('{"a":1,"ts":"1971-01-01T00:00:00Z"}');
    expect(result.readings).toStrictEqual([reading('a', 1, { ts: Date.UTC(1971, 0, 1) })]);
  });
});

describe('normalize: options', () => {
  it('exports frozen defaults with the documented values', () => {
    expect(Object.isFrozen(defaultNormalizeOptions)).toBe(true);
    expect(defaultNormalizeOptions).toStrictEqual({
      maxPayloadBytes: 65_536,
      maxReadingsPerMessage: 1_000,
      maxStringLength: 256,
      maxNestingDepth: 8,
      maxMetricNameLength: 128,
      maxFutureSkewMs: 300_000,
    });
  });

  it('createNormalizeOptions merges overrides and freezes the result', () => {
    const options = createNormalizeOptions({ maxStringLength: 4 });
    expect(Object.isFrozen(options)).toBe(true);
    expect(options.maxStringLength).toBe(4);
    expect(options.maxPayloadBytes).toBe(65_536);
  });

  it('createNormalizeOptions names every invalid option in one CONFIG_INVALID error', () => {
    let caught: unknown;
    try {
      createNormalizeOptions({ maxPayloadBytes: 0, maxFutureSkewMs: -1, formatOverride: 'xml' as 'json' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((caught as Error).message).toMatch(/maxPayloadBytes.*maxFutureSkewMs.*formatOverride/);
  });

  it.each([
    ['maxPayloadBytes', { maxPayloadBytes: 4 }, '{"a":1}', 'PAYLOAD_TOO_LARGE'],
    ['maxStringLength', { maxStringLength: 2 }, '{"a":"abc"}', 'STRING_TOO_LONG'],
    ['maxNestingDepth', { maxNestingDepth: 1 }, '{"a":{"b":1}}', 'TOO_DEEP'],
    ['maxMetricNameLength', { maxMetricNameLength: 3 }, '{"abcd":1}', 'INVALID_METRIC_NAME'],
    ['maxReadingsPerMessage', { maxReadingsPerMessage: 1 }, '{"a":1,"b":2}', 'TOO_MANY_READINGS'],
  ] as const)('honours a custom %s', (_name, overrides, payload, code) => {
    expect(codes(run(payload, BASE_TOPIC, overrides))).toStrictEqual([code]);
    expect(codes(run(payload))).toStrictEqual([]);
  });
});

describe('normalize: robustness', () => {
  it.each([
    ['a non-Buffer payload', { deviceId: DEVICE, topic: BASE_TOPIC, payload: 'x' as unknown as Buffer, receivedAt: RECEIVED_AT }],
    ['a NaN receivedAt', { deviceId: DEVICE, topic: BASE_TOPIC, payload: Buffer.from('1'), receivedAt: Number.NaN }],
    ['a missing input', undefined as unknown as Parameters<typeof normalize>[0]],
  ])('returns a rejection instead of throwing for %s', (_name, input) => {
    let result: NormalizeResult | undefined;
    expect(() => {
      result = normalize(input);
    }).not.toThrow();
    expect(result?.readings).toStrictEqual([]);
    expect(result?.rejections).toHaveLength(1);
  });

  it('drops a UTF-8 byte-order mark before detecting the format', () => {
    const result = run(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]));
    expect(result.readings).toStrictEqual([reading('a', 1)]);
  });

  it('returns equal results for equal inputs', () => {
    const payload = '[{"bn":"d:","bt":-10,"n":"a","v":1},{"n":"b","vs":"x","t":2}]';
    expect(run(payload)).toStrictEqual(run(payload));
  });
});
