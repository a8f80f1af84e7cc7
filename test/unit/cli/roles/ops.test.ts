import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../../core/metrics.js';
import { buildOpsApi } from '../../../../cli/roles/ops.js';

const token = { check: (candidate: string | undefined) => candidate === 'good-token' };

describe('/readyz', () => {
  it('answers 503 naming the red check, with the reasons checks give under notes', async () => {
    let groupOk = false;
    const app = await buildOpsApi({
      token,
      metrics: createMetrics(),
      readiness: [
        { name: 'kafka', check: async () => true },
        { name: 'writer-group', check: async () => groupOk, note: () => (groupOk ? undefined : 'writer group g is shared with consumers of other topics') },
      ],
    });
    try {
      const red = await app.inject('/readyz');
      expect(red.statusCode).toBe(503);
      expect(red.json()).toEqual({
        status: 'not-ready',
        checks: { kafka: true, 'writer-group': false },
        notes: { 'writer-group': 'writer group g is shared with consumers of other topics' },
      });
      groupOk = true;
      const green = await app.inject('/readyz');
      expect(green.statusCode).toBe(200);
      expect(green.json()).toEqual({ status: 'ready', checks: { kafka: true, 'writer-group': true } });
    } finally {
      await app.close();
    }
  });
});

describe('/api/rules on the ops server of a rules process', () => {
  it('answers the rules report with the token, and 401 without it', async () => {
    const report = { source: '/data/rules.yaml', loadedAt: 1, rules: [{ id: 'hot', description: 'hot', severity: 'warning' as const, enabled: true, condition: 't above 50', open: [] }] };
    const app = await buildOpsApi({ token, metrics: createMetrics(), readiness: [], rules: () => report });
    try {
      expect((await app.inject('/api/rules')).statusCode).toBe(401);
      const answer = await app.inject({ url: '/api/rules', headers: { authorization: 'Bearer good-token' } });
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toEqual(report);
    } finally {
      await app.close();
    }
  });
});
