import { describe, expect, it } from 'vitest';
import { looksLikeSenml } from '../../../../bridge/normalize/senml.js';
import { telemetryTopic } from '../../../../core/topics.js';
import { codes, DEVICE, reading, RECEIVED_AT, run, untimed } from './helpers.js';

const SENML_TOPIC = telemetryTopic(DEVICE, { format: 'senml' });

describe('SenML: RFC 8428 examples', () => {
  it('§5.1.1 single datapoint: a name without bn is the metric, no time means receipt time', () => {
    const result = run('[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]');
    expect(result.rejections).toStrictEqual([]);
    expect(result.readings).toStrictEqual([reading('urn:dev:ow:10e2073a01080063', 23.1, { unit: 'Cel' })]);
  });

  it('§5.1.2 multiple datapoints: bn prefix dropped, bt + relative t, bu applies where u is absent', () => {
    const pack = `[
      {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
      {"n":"current","t":-5,"v":1.2},
      {"n":"current","t":-4,"v":1.3},
      {"n":"current","t":-3,"v":1.4},
      {"n":"current","t":-2,"v":1.5},
      {"n":"current","t":-1,"v":1.6},
      {"n":"current","v":1.7}
    ]`;
    const result = run(pack);
    expect(result.rejections).toStrictEqual([]);
    // The resolved form of this pack is RFC 8428 §5.1.4.
    expect(result.readings).toStrictEqual([
      reading('voltage', 120.1, { unit: 'V', ts: 1276020076001 }),
      reading('current', 1.2, { unit: 'A', ts: 1276020071001 }),
      reading('current', 1.3, { unit: 'A', ts: 1276020072001 }),
      reading('current', 1.4, { unit: 'A', ts: 1276020073001 }),
      reading('current', 1.5, { unit: 'A', ts: 1276020074001 }),
      reading('current', 1.6, { unit: 'A', ts: 1276020075001 }),
      reading('current', 1.7, { unit: 'A', ts: 1276020076001 }),
    ]);
  });

  it('§5.1.3 multiple measurements: records named only by bn keep the whole name, units and times resolve; a second reading of the name at one time is DUPLICATE_TIME', () => {
    const pack = `[
      {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,"bu":"%RH","v":20},
      {"u":"lon","v":24.30621},
      {"u":"lat","v":60.07965},
      {"t":60,"v":20.3},
      {"u":"%EL","t":150,"v":98}
    ]`;
    const name = 'urn:dev:ow:10e2073a01080063';
    const result = run(pack);
    // The RFC's lon and lat share the name and time of the first record: one point in every store (the unit is
    // not part of a series), so they are dead-lettered rather than silently overwriting it.
    expect(result.readings).toStrictEqual([
      reading(name, 20, { unit: '%RH', ts: 1320067464000 }),
      reading(name, 20.3, { unit: '%RH', ts: 1320067524000 }),
      reading(name, 98, { unit: '%EL', ts: 1320067614000 }),
    ]);
    expect(result.rejections.map((r) => [r.code, r.index])).toStrictEqual([
      ['DUPLICATE_TIME', 1],
      ['DUPLICATE_TIME', 2],
    ]);
  });

  it('§5.1.5 multiple data types: vs, vb and vd become string and boolean values', () => {
    const pack = `[
      {"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.4},
      {"n":"label","vs":"Machine Room"},
      {"n":"open","vb":false},
      {"n":"nfc-reader","vd":"aGkgCg"}
    ]`;
    expect(run(pack).readings).toStrictEqual([
      reading('temp', 23.4, { unit: 'Cel' }),
      reading('label', 'Machine Room', untimed(1)),
      reading('open', false, untimed(2)),
      reading('nfc-reader', 'aGkgCg', untimed(3)),
    ]);
  });
});

describe('SenML: resolution (RFC 8428 §4.6)', () => {
  it.each([
    ['relative t without bt is seconds before receipt', '[{"n":"a","v":1,"t":-10}]', RECEIVED_AT - 10_000],
    ['relative bt and t add up', '[{"bn":"d/","bt":-60,"n":"a","v":1,"t":10}]', RECEIVED_AT - 50_000],
    ['a small positive relative time is after receipt', '[{"n":"a","v":1,"t":30}]', RECEIVED_AT + 30_000],
    ['absolute bt with a positive t', '[{"bt":1732492800,"n":"a","v":1,"t":0.5}]', RECEIVED_AT + 500],
    ['t exactly 2**28 is absolute', '[{"n":"a","v":1,"t":268435456}]', 268_435_456_000],
  ])('time: %s', (_name, pack, ts) => {
    expect(run(pack).readings.map((r) => r.ts)).toStrictEqual([ts]);
  });

  it('a relative time just below 2**28 lands years ahead and is corrected to receipt', () => {
    expect(run('[{"n":"a","v":1,"t":268435455}]').readings).toStrictEqual([
      reading('a', 1, { tags: { ts_corrected: 'future' } }),
    ]);
  });

  it.each([
    ['bn ending in ":" is a device prefix: metric is n', '[{"bn":"urn:dev:mac:0024befffe804ff1:","n":"temp","v":1}]', 'temp'],
    ['bn ending in "/" is a device prefix: metric is n', '[{"bn":"device/","n":"temp","v":1}]', 'temp'],
    ['any other bn is part of the name: metric is bn + n', '[{"bn":"room1.","n":"temp","v":1}]', 'room1.temp'],
    ['bn without n keeps the whole bn, separator included', '[{"bn":"urn:dev:x:","v":1}]', 'urn:dev:x:'],
    ['n without bn', '[{"n":"temp","v":1}]', 'temp'],
  ])('name: %s', (_name, pack, metric) => {
    expect(run(pack).readings.map((r) => r.metric)).toStrictEqual([metric]);
  });

  it('a later bn replaces the earlier one for the records after it', () => {
    const result = run('[{"bn":"a.","n":"x","v":1},{"n":"y","v":2},{"bn":"b.","n":"x","v":3}]');
    expect(result.readings.map((r) => r.metric)).toStrictEqual(['a.x', 'a.y', 'b.x']);
  });

  it('bv is added to every later v until changed', () => {
    const result = run('[{"bn":"d/","bv":20,"n":"temp","v":1.5},{"n":"temp","v":-0.5},{"bv":0,"n":"temp","v":7}]');
    expect(result.readings.map((r) => r.value)).toStrictEqual([21.5, 19.5, 7]);
  });

  it('bv does not apply to string values', () => {
    expect(run('[{"bv":5,"n":"s","vs":"x"}]').readings.map((r) => r.value)).toStrictEqual(['x']);
  });

  it('a sum becomes <metric>_sum, with bs added and the record unit kept', () => {
    const result = run('[{"bn":"d:","bs":1000,"n":"energy","u":"Wh","s":100}]');
    expect(result.readings).toStrictEqual([reading('energy_sum', 1100, { unit: 'Wh' })]);
  });

  it('a record with both a value and a sum yields two readings', () => {
    const result = run('[{"n":"flow","u":"l/s","v":2,"s":50}]');
    expect(result.readings).toStrictEqual([
      reading('flow', 2, { unit: 'l/s' }),
      reading('flow_sum', 50, { unit: 'l/s', ...untimed(1) }),
    ]);
  });

  it('a record of base fields only sets context and yields nothing', () => {
    const result = run('[{"bn":"dev:","bt":1732492800,"bu":"Cel"},{"n":"a","v":1}]');
    expect(result.rejections).toStrictEqual([]);
    expect(result.readings).toStrictEqual([reading('a', 1, { unit: 'Cel' })]);
  });

  it('ut (update time) is accepted and ignored', () => {
    expect(run('[{"n":"a","v":1,"ut":60}]').readings).toStrictEqual([reading('a', 1)]);
  });
});

describe('SenML: rejections', () => {
  it.each([
    ['both v and vs', '[{"n":"a","v":1,"vs":"x"}]', 'INVALID_SENML'],
    ['neither value nor sum', '[{"n":"a","u":"Cel"}]', 'INVALID_SENML'],
    ['an empty record', '[{}]', 'INVALID_SENML'],
    ['v as a string', '[{"n":"a","v":"1"}]', 'INVALID_SENML'],
    ['vb as a number', '[{"n":"a","vb":1}]', 'INVALID_SENML'],
    ['vs as a boolean', '[{"n":"a","vs":true}]', 'INVALID_SENML'],
    ['s as a string', '[{"n":"a","s":"1"}]', 'INVALID_SENML'],
    ['n as a number', '[{"n":5,"v":1}]', 'INVALID_SENML'],
    ['u as a number', '[{"n":"a","u":1,"v":1}]', 'INVALID_SENML'],
    ['no name at all', '[{"v":1}]', 'INVALID_SENML'],
    ['a record that is not an object', '[5]', 'INVALID_SENML'],
    ['t as a string', '[{"n":"a","v":1,"t":"now"}]', 'BAD_TIMESTAMP'],
    ['a relative time before 1970', '[{"n":"a","v":1,"t":-1e12}]', 'BAD_TIMESTAMP'],
    ['a name with "/" (valid SenML, invalid metric)', '[{"n":"3303/0/5700","v":1}]', 'INVALID_METRIC_NAME'],
    ['v of 1e999', '[{"n":"a","v":1e999}]', 'NON_FINITE_NUMBER'],
    ['vs longer than maxStringLength', `[{"n":"a","vs":"${'x'.repeat(257)}"}]`, 'STRING_TOO_LONG'],
  ])('record-level: %s → %s', (_name, pack, code) => {
    const result = run(pack, SENML_TOPIC);
    expect(result.readings).toStrictEqual([]);
    expect(result.rejections.map((r) => ({ code: r.code, index: r.index }))).toStrictEqual([{ code, index: 0 }]);
  });

  it('record-level problems keep the other records and carry the record index', () => {
    const result = run('[{"n":"a","v":1},{"n":"b","v":"bad"},{"n":"c","v":3}]', SENML_TOPIC);
    expect(result.readings.map((r) => r.metric)).toStrictEqual(['a', 'c']);
    expect(result.rejections.map((r) => ({ code: r.code, index: r.index }))).toStrictEqual([
      { code: 'INVALID_SENML', index: 1 },
    ]);
  });

  it('a bad value next to a good sum rejects only the value', () => {
    const result = run(`[{"n":"a","vs":"${'x'.repeat(257)}","s":1}]`);
    expect(result.readings).toStrictEqual([reading('a_sum', 1)]);
    expect(codes(result)).toStrictEqual(['STRING_TOO_LONG']);
  });

  it('base fields of a rejected record still apply to the records after it', () => {
    const result = run('[{"bn":"dev:","bv":10,"n":"a","v":"bad"},{"n":"b","v":1}]');
    expect(result.readings).toStrictEqual([reading('b', 11)]);
    expect(codes(result)).toStrictEqual(['INVALID_SENML']);
  });

  it.each([
    ['a must-understand field (§4.4)', '[{"n":"a","v":1},{"n":"b","v":2,"xyz_":1}]'],
    ['bver newer than 10 (§4.1)', '[{"n":"a","v":1},{"bver":11,"n":"b","v":2}]'],
    ['bver that is not a positive integer', '[{"bver":1.5,"n":"a","v":1}]'],
    ['two different bver values (§4.4)', '[{"bver":5,"n":"a","v":1},{"bver":10,"n":"b","v":2}]'],
    ['bt as a string', '[{"n":"a","v":1},{"bt":"now","n":"b","v":2}]'],
    ['bn as a number', '[{"bn":1,"n":"a","v":1}]'],
    ['bu as a number', '[{"bu":1,"n":"a","v":1}]'],
    ['bv as a string', '[{"bv":"1","n":"a","v":1}]'],
    ['bs as a boolean', '[{"bs":true,"n":"a","s":1}]'],
    ['a pack that is an object', '{"n":"a","v":1}'],
  ])('pack-level: %s rejects the whole message', (_name, pack) => {
    const result = run(pack, SENML_TOPIC);
    expect(result.readings).toStrictEqual([]);
    expect(result.rejections).toHaveLength(1);
    expect(result.rejections[0]).toMatchObject({ code: 'INVALID_SENML' });
    expect(result.rejections[0]).not.toHaveProperty('index');
  });

  it('repeating the same bver in later records is accepted', () => {
    expect(run('[{"bver":5,"n":"a","v":1},{"bver":5,"n":"b","v":2}]').readings).toHaveLength(2);
  });

  it('an empty pack on $senml holds no readings', () => {
    expect(codes(run('[]', SENML_TOPIC))).toStrictEqual(['NO_READINGS']);
  });
});

describe('looksLikeSenml: content detection', () => {
  it.each([
    ['records with n and v', [{ n: 'a', v: 1 }], true],
    ['a record with only bn and bt, plus one with v', [{ bn: 'x:', bt: 1 }, { v: 1 }], true],
    ['a record with vs only', [{ vs: 'x' }], true],
    ['a record with s only', [{ s: 1 }], true],
    ['a non-SenML key anywhere', [{ n: 'a', v: 1 }, { n: 'b', v: 2, room: 'x' }], false],
    ['only generic fields t, u, ut', [{ t: 1, u: 'x', ut: 5 }], false],
    ['an element that is not an object', [{ n: 'a', v: 1 }, 5], false],
    ['an empty array', [], false],
    ['an object', { n: 'a', v: 1 }, false],
    ['an array of metric objects', [{ temperature: 21 }], false],
    ['a must-understand extension', [{ n: 'a', v: 1, x_: 1 }], false],
  ])('%s → %s', (_name, document, expected) => {
    expect(looksLikeSenml(document)).toBe(expected);
  });
});
