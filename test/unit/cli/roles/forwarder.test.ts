import { describe, expect, it } from 'vitest';
import { sinkReady } from '../../../../cli/roles/forwarder.js';
import { configuredSinks, pulsarTopic } from '../../../../cli/roles/sinks.js';
import { defaultRoles } from '../../../../cli/start.js';
import { loadConfig } from '../../../../core/config.js';
import type { SinkStatus } from '../../../../core/seams.js';

const status = (fields: Partial<SinkStatus>): SinkStatus => ({ sink: 'pulsar', groupId: 'g', state: 'writing', delivered: 0, refused: 0, inFlight: 0, ...fields });

describe('the forwarder role', () => {
  it('runs by default only where a sink is configured, each sink turned on by its own variable', () => {
    expect(defaultRoles(loadConfig({})).has('forwarder')).toBe(false);
    expect([...defaultRoles(loadConfig({ PULSAR_URL: 'http://127.0.0.1:8080' }))]).toEqual(['gateway', 'bridge', 'writer', 'rules', 'forwarder', 'dashboard']);
    expect(configuredSinks(loadConfig({}))).toEqual([]);
    expect(configuredSinks(loadConfig({ KINESIS_STREAM: 's', RABBITMQ_URL: 'amqp://127.0.0.1' }))).toEqual(['rabbitmq', 'kinesis']);
  });

  it('names the Pulsar topic after the deployment unless PULSAR_TOPIC says otherwise', () => {
    expect(pulsarTopic(loadConfig({ KAFKA_TOPIC_PREFIX: 'plant-a' }))).toBe('persistent://public/default/plant-a.telemetry');
    expect(pulsarTopic(loadConfig({ PULSAR_TOPIC: 'persistent://t/n/readings' }))).toBe('persistent://t/n/readings');
  });

  it('is ready through a short outage, not ready once a sink has failed for longer than FORWARDER_UNREADY_AFTER_MS or refuses our credentials', () => {
    expect(sinkReady(status({}), 60_000, 1_000_000)).toBe(true);
    expect(sinkReady(status({ state: 'retrying', failingSince: 1_000_000 - 60_000 }), 60_000, 1_000_000)).toBe(true);
    expect(sinkReady(status({ state: 'retrying', failingSince: 1_000_000 - 60_001 }), 60_000, 1_000_000)).toBe(false);
    expect(sinkReady(status({ state: 'unauthorized', failingSince: 1_000_000 }), 60_000, 1_000_000)).toBe(false);
  });
});
