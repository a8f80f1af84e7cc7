import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt from 'mqtt';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { readTopic } from '../support/kafka.js';

const kafkaBrokers = inject('kafkaBrokers');
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const prefix = `pt${runId}`;

/**
 * Keys and the partition Kafka's Java client (`Utils.toPositive(Utils.murmur2(key)) % 12`) gives them,
 * from the murmur2 values in Kafka's own UtilsTest: 21 → -973932308, foobar → -790332482,
 * a-little-bit-long-string → -985981536, a-little-bit-longer-string → -1486304829,
 * lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8 → -58897971.
 */
const javaPartitions: Record<string, number> = {
  '21': (-973932308 & 0x7fffffff) % 12,
  foobar: (-790332482 & 0x7fffffff) % 12,
  'a-little-bit-long-string': (-985981536 & 0x7fffffff) % 12,
  'a-little-bit-longer-string': (-1486304829 & 0x7fffffff) % 12,
  lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8: (-58897971 & 0x7fffffff) % 12,
};

describe('partitioning', () => {
  let sluice: SluiceProcess;
  let secrets: Record<string, string>;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    secrets = await addDevices(dataDir, Object.keys(javaPartitions));
    sluice = await startSluiceProcess({
      DATA_DIR: dataDir,
      KAFKA_BROKERS: kafkaBrokers,
      INFLUX_URL: inject('influxUrl'),
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_CLIENT_ID: `pt-${prefix}`,
      KAFKA_PARTITIONS: '12',
      DASHBOARD_TOKEN: 't',
    });
  });
  afterAll(async () => {
    await sluice?.stop();
  });

  it("puts each device's records on the partition Java's murmur2 partitioner gives its id", async () => {
    // BRIDGE_THREAD defaults to true: these records went through the bridge's own thread.
    expect(sluice.logs.some((l) => l.msg === 'bridge running on its own thread')).toBe(true);
    for (const deviceId of Object.keys(javaPartitions)) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: deviceId, password: secrets[deviceId]!, clientId: deviceId, reconnectPeriod: 0 });
      await client.publishAsync(`devices/${deviceId}/telemetry`, '{"a":1,"b":2}', { qos: 1 });
      await client.endAsync();
    }
    const records = await readTopic(kafkaBrokers, `${prefix}.telemetry`, (rs) => rs.length >= 2 * Object.keys(javaPartitions).length);
    for (const [deviceId, partition] of Object.entries(javaPartitions)) {
      const mine = records.filter((r) => r.key === deviceId);
      expect(mine).toHaveLength(2);
      for (const record of mine) expect(record.partition, deviceId).toBe(partition);
    }
  });
});
