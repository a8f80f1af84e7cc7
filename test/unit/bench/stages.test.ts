import { describe, expect, it } from 'vitest';
import { describeStages, parseStages } from '../../../bench/stages.js';

const histogram = (name: string, buckets: [string, number][], sum: number) =>
  [...buckets.map(([le, n]) => `${name}_bucket{le="${le}"} ${n}`), `${name}_sum ${sum}`, `${name}_count ${buckets.at(-1)![1]}`].join('\n');

describe('bench stages', () => {
  it('reads mean and the bucket bound holding the 99th percentile', () => {
    const text = histogram('sluice_ingest_ack_seconds', [['0.01', 900], ['0.05', 985], ['0.1', 995], ['+Inf', 1000]], 20);
    const stages = parseStages(text);
    expect(stages.ingestAckSeconds).toEqual({ count: 1000, mean: 0.02, p99AtMost: 0.1 });
    expect(stages.storeWriteSeconds).toEqual({ count: 0, mean: null, p99AtMost: null });
  });

  it('adds up the histograms of several processes before taking the percentile', () => {
    const fast = histogram('sluice_producer_batch_seconds', [['0.01', 100], ['0.1', 100], ['+Inf', 100]], 0.5);
    const slow = histogram('sluice_producer_batch_seconds', [['0.01', 0], ['0.1', 100], ['+Inf', 100]], 5);
    const merged = parseStages(fast, slow).producerBatchSeconds;
    expect(merged.count).toBe(200);
    expect(merged.mean).toBeCloseTo(0.0275);
    expect(merged.p99AtMost).toBe(0.1);
  });

  it('says so when the 99th percentile is beyond the last bound', () => {
    const stages = parseStages(histogram('sluice_ingest_ack_seconds', [['10', 50], ['+Inf', 100]], 2000));
    expect(stages.ingestAckSeconds.p99AtMost).toBeNull();
    expect(describeStages(stages)).toContain('p99 above the last bucket');
  });
});
