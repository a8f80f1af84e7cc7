import { describe, expect, it } from 'vitest';
import { lineMetric, tokenizeLineProtocol } from '../../../../bridge/normalize/line-protocol.js';
import { BASE_TOPIC, codes, reading, RECEIVED_AT, run } from './helpers.js';

const LINE_TOPIC = `${BASE_TOPIC}/$line`;
const MS = 1732492800123;

describe('line protocol: metric naming', () => {
  it.each([
    ['field "value" → measurement', 'temperature', 'value', 'temperature'],
    ['other field → measurement_field', 'env', 'temp', 'env_temp'],
    ['field "Value" is not "value"', 'env', 'Value', 'env_Value'],
  ])('%s', (_name, measurement, field, metric) => {
    expect(lineMetric(measurement, field)).toBe(metric);
  });

  it('emits one reading per field, in order, sharing tags and time', () => {
    const result = run('env,room=a,site=x temp=21.5,hum=40i,value=1 1732492800123000000', LINE_TOPIC);
    const shared = { ts: MS, tags: { room: 'a', site: 'x' } };
    expect(result.readings).toStrictEqual([
      reading('env_temp', 21.5, shared),
      reading('env_hum', 40, shared),
      reading('env', 1, shared),
    ]);
  });
});

describe('line protocol: escaping', () => {
  it.each([
    ['escaped space in the measurement', 'my\\ sensor value=1', 'my sensor', undefined],
    ['escaped comma in the measurement', 'a\\,b value=1', 'a,b', undefined],
    ['escaped space in a tag value', 'm,loc=us\\ west value=1', 'm', { loc: 'us west' }],
    ['escaped comma and equals in a tag value', 'm,expr=a\\=b\\,c value=1', 'm', { expr: 'a=b,c' }],
    ['backslash before an ordinary character is literal', 'm,path=C:\\temp value=1', 'm', { path: 'C:\\temp' }],
    ['escaped backslash in a tag value', 'm,p=a\\\\ value=1', 'm', { p: 'a\\' }],
    ['equals sign unescaped in the measurement', 'a=b value=1', 'a=b', undefined],
  ])('%s', (_name, line, measurement, tags) => {
    const [parsed] = tokenizeLineProtocol(line).lines;
    expect(parsed?.error).toBeUndefined();
    expect(parsed?.line?.measurement).toBe(measurement);
    expect(Object.fromEntries(parsed?.line?.tags ?? [])).toStrictEqual(tags ?? {});
  });

  it('an escaped space in a tag key is unescaped and then rejected as an invalid tag key', () => {
    const result = run('m,my\\ tag=x value=1', LINE_TOPIC);
    expect(codes(result)).toStrictEqual(['UNSUPPORTED_VALUE']);
    expect(result.rejections[0]?.reason).toContain('"my tag"');
  });

  it('an escaped comma in a field key stays part of the key', () => {
    const [parsed] = tokenizeLineProtocol('m a\\,b=1').lines;
    expect(parsed?.line?.fields).toStrictEqual([{ key: 'a,b', value: 1 }]);
  });

  it.each([
    ['escaped quotes', 'm msg="say \\"hi\\""', 'say "hi"'],
    ['escaped backslash', 'm msg="a\\\\b"', 'a\\b'],
    ['backslash before another character is literal', 'm msg="a\\nb"', 'a\\nb'],
    ['commas, spaces and equals need no escaping inside quotes', 'm msg="a, b=c d"', 'a, b=c d'],
    ['empty string', 'm msg=""', ''],
  ])('string field with %s', (_name, line, text) => {
    expect(run(line, LINE_TOPIC).readings).toStrictEqual([reading('m_msg', text)]);
  });
});

describe('line protocol: field values', () => {
  it.each([
    ['float', '1.5', 1.5],
    ['float without fraction digits', '1.', 1],
    ['float starting with a dot', '.5', 0.5],
    ['float with exponent', '-1.5e3', -1500],
    ['plain integer is a float', '42', 42],
    ['integer with i', '42i', 42],
    ['negative integer', '-42i', -42],
    ['largest int64 becomes the nearest Number, 2**63', '9223372036854775807i', 2 ** 63],
    ['unsigned with u', '42u', 42],
    ['largest uint64 becomes the nearest Number, 2**64', '18446744073709551615u', 2 ** 64],
    ['t', 't', true],
    ['T', 'T', true],
    ['true', 'true', true],
    ['True', 'True', true],
    ['TRUE', 'TRUE', true],
    ['f', 'f', false],
    ['F', 'F', false],
    ['false', 'false', false],
    ['False', 'False', false],
    ['FALSE', 'FALSE', false],
  ])('%s: %s', (_name, raw, value) => {
    expect(run(`m value=${raw}`, LINE_TOPIC).readings).toStrictEqual([reading('m', value)]);
  });

  it.each([
    ['NaN'],
    ['nan'],
    ['inf'],
    ['-inf'],
    ['+Inf'],
    ['Infinity'],
    ['-Infinity'],
    ['1e999'],
    ['-1e999'],
  ])('%s is rejected as NON_FINITE_NUMBER while the other fields are kept', (raw) => {
    const result = run(`m a=1,b=${raw},c=3`, LINE_TOPIC);
    expect(result.readings.map((r) => r.metric)).toStrictEqual(['m_a', 'm_c']);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([
      { code: 'NON_FINITE_NUMBER', index: 0 },
    ]);
  });

  it('a string field longer than maxStringLength rejects only that field', () => {
    const result = run(`m a=1,s="${'x'.repeat(257)}"`, LINE_TOPIC);
    expect(result.readings.map((r) => r.metric)).toStrictEqual(['m_a']);
    expect(codes(result)).toStrictEqual(['STRING_TOO_LONG']);
  });

  it('an invalid metric name from the measurement rejects each field once', () => {
    const result = run('1m a=1,b=2', LINE_TOPIC);
    expect(codes(result)).toStrictEqual(['INVALID_METRIC_NAME', 'INVALID_METRIC_NAME']);
  });
});

describe('line protocol: timestamps', () => {
  it.each([
    ['nanoseconds (the InfluxDB default)', '1732492800123000000', MS],
    ['nanoseconds beyond Number precision', '1732492800123499999', MS],
    ['microseconds', '1732492800123000', MS],
    ['milliseconds', '1732492800123', MS],
    ['seconds', '1732492800', RECEIVED_AT],
    ['missing', '', RECEIVED_AT],
  ])('%s', (_name, ts, expected) => {
    expect(run(`m value=1 ${ts}`, LINE_TOPIC).readings.map((r) => r.ts)).toStrictEqual([expected]);
  });

  it.each([
    ['not a number', 'abc'],
    ['negative', '-1732492800123000000'],
    ['a fraction', '1732492800.5'],
  ])('a timestamp that is %s rejects the whole line as BAD_TIMESTAMP', (_name, ts) => {
    const result = run(`m a=1,b=2 ${ts}\nm value=3`, LINE_TOPIC);
    expect(result.readings.map((r) => r.value)).toStrictEqual([3]);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([{ code: 'BAD_TIMESTAMP', index: 0 }]);
  });
});

describe('line protocol: document structure', () => {
  it('skips comments and blank lines, accepts CRLF and surrounding whitespace, indexes physical lines', () => {
    const text = '# sensors\r\n\r\n  m value=1  \r\n\t# indented comment\r\nm value=2\r\nbroken\r\n';
    const result = run(text, LINE_TOPIC);
    expect(result.readings.map((r) => r.value)).toStrictEqual([1, 2]);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([
      { code: 'INVALID_LINE_PROTOCOL', index: 5 },
    ]);
  });

  it('tolerates several spaces between sections', () => {
    expect(run('m,t=a   value=1   1732492800123', LINE_TOPIC).readings).toStrictEqual([
      reading('m', 1, { ts: MS, tags: { t: 'a' } }),
    ]);
  });

  it.each([
    ['no field set', 'weather'],
    ['a field without "="', 'weather temperature'],
    ['an empty field value', 'm value='],
    ['an empty field key', 'm =1'],
    ['a trailing comma in the field set', 'm a=1,'],
    ['an empty tag value', 'm,room= value=1'],
    ['an empty tag key', 'm,=a value=1'],
    ['a tag without "="', 'm,room value=1'],
    ['an empty measurement', ',room=a value=1'],
    ['an unterminated string', 'm msg="oops'],
    ['text after the timestamp', 'm value=1 1732492800 extra'],
    ['garbage right after a string field', 'm msg="a"b'],
    ['an invalid bare value', 'm value=hello'],
    ['an integer outside int64', 'm value=9223372036854775808i'],
    ['a negative unsigned', 'm value=-1u'],
    ['an unsigned outside uint64', 'm value=18446744073709551616u'],
  ])('rejects %s as INVALID_LINE_PROTOCOL', (_name, line) => {
    const result = run(line, LINE_TOPIC);
    expect(result.readings).toStrictEqual([]);
    expect(result.rejections.map(({ code, index }) => ({ code, index }))).toStrictEqual([
      { code: 'INVALID_LINE_PROTOCOL', index: 0 },
    ]);
  });

  it('a bad tag rejects the whole line once', () => {
    const result = run('m,device=other a=1,b=2', LINE_TOPIC);
    expect(result.readings).toStrictEqual([]);
    expect(codes(result)).toStrictEqual(['UNSUPPORTED_VALUE']);
  });

  it('anyValid reports whether any line is well-formed, which drives content detection', () => {
    expect(tokenizeLineProtocol('nope\nm value=1').anyValid).toBe(true);
    expect(tokenizeLineProtocol('nope\nstill nope').anyValid).toBe(false);
    expect(tokenizeLineProtocol('# only a comment').anyValid).toBe(false);
  });
});
