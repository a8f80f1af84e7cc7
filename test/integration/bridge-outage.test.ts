import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { startPrivateKafka, type PrivateKafka } from '../support/private-kafka.js';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { readTopic } from '../support/kafka.js';
import { paced } from '../support/wait.js';

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

interface Publisher {
  deviceId: string;
  client: MqttClient;
  acked: number[];
  pending: Set<number>;
}

describe('Kafka outage under a steady QoS 1 stream', () => {
  let kafka: PrivateKafka;
  let sluice: SluiceProcess;
  const devices = Array.from({ length: 5 }, (_, i) => `out-${runId}-${i}`);
  /** Registered, but first logs in while Kafka is down. */
  const latecomer = `late-${runId}`;
  let latecomerSecret: string;
  const prefix = `bo${runId}`;

  beforeAll(async () => {
    kafka = await startPrivateKafka({ nodes: 1 });
    const dataDir = await tempDataDir();
    const secrets = await addDevices(dataDir, [...devices, latecomer]);
    latecomerSecret = secrets[latecomer]!;
    sluice = await startSluiceProcess({
      DATA_DIR: dataDir,
      KAFKA_BROKERS: kafka.brokers,
      INFLUX_URL: inject('influxUrl'),
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_CLIENT_ID: `bo-${prefix}`,
      KAFKA_PARTITIONS: '3',
      DASHBOARD_TOKEN: 't',
      BRIDGE_MAX_INFLIGHT_READINGS: '2000',
    });
    publishers = await Promise.all(
      devices.map(async (deviceId) => ({
        deviceId,
        client: await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: deviceId, password: secrets[deviceId]!, clientId: deviceId, keepalive: 120, reconnectPeriod: 500 }),
        acked: [],
        pending: new Set<number>(),
      })),
    );
  }, 180_000);

  let publishers: Publisher[] = [];

  afterAll(async () => {
    for (const p of publishers) await p.client.endAsync(true);
    await sluice?.stop();
    await kafka?.destroy();
  });

  it('holds PUBACKs while Kafka is down, stays up, resumes by itself, and loses no acknowledged reading', async () => {
    let seq = 0;
    let publishing = true;
    // A steady stream: one publish every 20 ms per device (50 msg/s), acknowledged or not.
    const loops = publishers.map((p) =>
      paced(20, () => publishing, () => {
        const n = seq++;
        p.pending.add(n);
        void p.client.publishAsync(`devices/${p.deviceId}/telemetry`, JSON.stringify({ seq: n }), { qos: 1 }).then(() => {
          p.pending.delete(n);
          p.acked.push(n);
        });
      }),
    );
    const ackedCount = () => publishers.reduce((n, p) => n + p.acked.length, 0);
    const readyz = async () => (await fetch(`http://127.0.0.1:${sluice.dashboardPort}/readyz`)).status;

    await expect.poll(ackedCount, { timeout: 20_000 }).toBeGreaterThan(200);
    await kafka.stop();
    const ackedAtOutage = ackedCount();

    // While Kafka is down: no new PUBACKs after the in-flight ones settle, the process answers, readiness is red.
    await expect.poll(readyz, { timeout: 20_000 }).toBe(503);
    const stalledAt = ackedCount();
    await expect.poll(() => publishers.reduce((n, p) => n + p.pending.size, 0), { timeout: 10_000 }).toBeGreaterThan(100);
    expect(ackedCount()).toBe(stalledAt);
    expect(ackedCount() - ackedAtOutage).toBeLessThan(100);
    expect((await fetch(`http://127.0.0.1:${sluice.dashboardPort}/healthz`)).status).toBe(200);
    expect(sluice.child.exitCode).toBeNull();

    // The gateway cannot reach Kafka (docs/contracts.md §4, "One fleet"): it still admits the devices of the registry
    // as it last read it, after checking their secrets, and still refuses every id it cannot verify; what they send
    // is acknowledged only once it is in Kafka.
    const late = await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: latecomer, password: latecomerSecret, clientId: latecomer, keepalive: 120, reconnectPeriod: 500 });
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: latecomer, password: 'wrong', clientId: `${latecomer}-x`, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 });
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: `never-${runId}`, password: 'any', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 });
    let lateAcked = false;
    const lateAck = late.publishAsync(`devices/${latecomer}/telemetry`, JSON.stringify({ seq: -1 }), { qos: 1 }).then(() => (lateAcked = true));
    await expect.poll(() => sluice.logs.some((l) => l.msg === 'queue not accepting records; holding acknowledgements and retrying'), { timeout: 10_000 }).toBe(true);
    expect(lateAcked).toBe(false);

    await kafka.start();
    await lateAck;
    await late.endAsync();
    await expect.poll(readyz, { timeout: 60_000 }).toBe(200);
    publishing = false;
    await Promise.all(loops);
    // Every publish is acknowledged once Kafka is back, without anyone reconnecting by hand.
    await expect.poll(() => publishers.reduce((n, p) => n + p.pending.size, 0), { timeout: 90_000, interval: 250 }).toBe(0);

    const total = seq;
    // The stream's devices only: the latecomer's reading is not one of the `seq` numbers.
    const streamValues = (rs: { key: string; value: string }[]) => new Set(rs.filter((r) => devices.includes(r.key)).map((r) => (JSON.parse(r.value) as { value: number }).value));
    const records = await readTopic(kafka.brokers, `${prefix}.telemetry`, (rs) => streamValues(rs).size >= total && rs.some((r) => r.key === latecomer), 60_000);
    const inKafka = streamValues(records);
    for (const p of publishers) for (const n of p.acked) expect(inKafka.has(n), `acked seq ${n} of ${p.deviceId} is in Kafka`).toBe(true);

    // Per device, first appearances in Kafka keep the publish order (the key keeps a device in one partition).
    for (const p of publishers) {
      const seen: number[] = [];
      for (const r of records.filter((r) => r.key === p.deviceId)) {
        const n = (JSON.parse(r.value) as { value: number }).value;
        if (!seen.includes(n)) seen.push(n);
      }
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }

    // The outage is logged when it starts and when it ends, with its duration: not once per record or retry. Right
    // after the broker restarts, partition leaders move and a batch can stall again; that is the same outage, and
    // its end is declared once records have flowed for 10 s (BridgeOptions.outageSettleMs).
    const outageLines = () => sluice.logs.filter((l) => l.msg === 'queue not accepting records; holding acknowledgements and retrying');
    const recoveryLines = () => sluice.logs.filter((l) => l.msg === 'queue accepting records again');
    await expect.poll(() => recoveryLines().length, { timeout: 30_000 }).toBe(1);
    expect(outageLines()).toHaveLength(1);
    expect(recoveryLines()[0]!.outageMs).toBeGreaterThan(1000);
  }, 120_000);
});
