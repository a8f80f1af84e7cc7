import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt from 'mqtt';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { readTopic } from '../support/kafka.js';

const kafkaBrokers = inject('kafkaBrokers');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const prefix = `bp${runId}`;
const device = `burst-${runId}`;
const token = 'bp-token';

describe('gateway backpressure when the bridge is full', () => {
  let sluice: SluiceProcess;
  let secrets: Record<string, string>;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    secrets = await addDevices(dataDir, [device]);
    sluice = await startSluiceProcess({
      DATA_DIR: dataDir,
      KAFKA_BROKERS: kafkaBrokers,
      INFLUX_URL: inject('influxUrl'),
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_CLIENT_ID: `bp-${prefix}`,
      KAFKA_PARTITIONS: '1',
      DASHBOARD_TOKEN: token,
      // A bridge that is full after a handful of readings, so a burst must be held back at the socket.
      BRIDGE_MAX_INFLIGHT_READINGS: '4',
      BRIDGE_PRODUCERS: '1',
      BRIDGE_LINGER_MS: '20',
    });
  });

  afterAll(async () => {
    expect(await sluice?.stop()).toBe(0);
  });

  it('stops reading a bursting device instead of buffering it, then acknowledges every message, in order', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: device, password: secrets[device], clientId: device, reconnectPeriod: 0 });
    const total = 400;
    try {
      // mqtt.js sends all of them at once without waiting for PUBACKs: far more than the bridge may hold.
      await Promise.all(Array.from({ length: total }, (_, seq) => client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ seq }), { qos: 1 })));
    } finally {
      await client.endAsync();
    }
    const records = (await readTopic(kafkaBrokers, `${prefix}.telemetry`, (rs) => rs.filter((r) => r.key === device).length >= total)).filter((r) => r.key === device);
    expect(records.map((r) => (JSON.parse(r.value) as { value: number }).value)).toEqual(Array.from({ length: total }, (_, seq) => seq));

    const metrics = await (await fetch(`http://127.0.0.1:${sluice.dashboardPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    const pauses = Number(/^sluice_mqtt_read_pauses_total (\d+)/m.exec(metrics)?.[1] ?? 0);
    expect(pauses).toBeGreaterThan(0);
    expect(metrics).toMatch(/^sluice_mqtt_reads_paused_connections 0$/m);
  });
});
