import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { AlertList, AlertTransition } from '../../dashboard/protocol.js';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { tooHotRulesFile } from '../support/alerts.js';

/**
 * An operator acknowledges an alert just as the reading that clears it arrives (issue 23: the alerts e2e test saw
 * an acknowledged alert stay open for good). The dashboard writes the acknowledgement with the next seq at once;
 * the rules stage, not having read it yet, writes its clear with the same seq. Whatever order they meet in, the
 * alert must end cleared, in the API and the page (one alert book, dashboard/alerts.ts), and keep who acknowledged.
 * Embedded mode, every role in one process, a real MQTT client.
 */

const token = 'ack-race-token';
const device = 'race-dev-1';
const rule = 'race-too-hot';
const ROUNDS_PER_ORDER = 4;

const RULES = tooHotRulesFile(rule, device, 'Temperature above 50 (ack race)');

describe('an acknowledgement racing the reading that clears the alert (embedded mode)', () => {
  let sluice: SluiceProcess;
  let client: MqttClient;
  let base: string;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  const alerts = async (query: string): Promise<AlertTransition[]> => {
    const response = await fetch(`${base}/api/alerts${query}`, { headers });
    expect(response.status).toBe(200);
    return ((await response.json()) as AlertList).alerts;
  };
  const publish = (temperature: number) => client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ temperature }), { qos: 1 });
  const acknowledge = (alertId: string) => fetch(`${base}/api/alerts/${alertId}/ack`, { method: 'POST', headers, body: JSON.stringify({ by: 'racer' }) });

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    const rulesFile = join(dataDir, 'rules.yaml');
    await writeFile(rulesFile, RULES);
    const secrets = await addDevices(dataDir, [device]);
    sluice = await startSluiceProcess({ DATA_DIR: dataDir, DASHBOARD_TOKEN: token, KAFKA_BROKERS: '', INFLUX_URL: '', RULES_FILE: rulesFile });
    base = `http://127.0.0.1:${sluice.dashboardPort}`;
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: device, password: secrets[device]!, clientId: device, reconnectPeriod: 0 });
  });

  afterAll(async () => {
    await client?.endAsync();
    expect(await sluice?.stop()).toBe(0);
  });

  async function raise(round: number): Promise<AlertTransition> {
    await publish(60 + round);
    let raised: AlertTransition | undefined;
    await expect.poll(async () => (raised = (await alerts('')).find((a) => a.state === 'open')), { timeout: 10_000, interval: 20 }).toBeDefined();
    return raised!;
  }

  async function expectClearedAndAcknowledged(alertId: string, acknowledged: boolean): Promise<void> {
    let final: AlertTransition | undefined;
    await expect
      .poll(async () => (final = (await alerts('?state=all')).find((a) => a.alertId === alertId))?.state, { timeout: 10_000, interval: 50 })
      .toBe('cleared');
    expect(final).toMatchObject({ state: 'cleared', clearReason: 'condition' });
    if (acknowledged) expect(final!.ackBy).toBe('racer');
    expect(await alerts('')).toEqual([]);
  }

  it('ends cleared when the acknowledgement and the clearing reading are sent at the same moment', async () => {
    for (let round = 0; round < ROUNDS_PER_ORDER; round++) {
      const { alertId } = await raise(round);
      const [ack] = await Promise.all([acknowledge(alertId), publish(20)]);
      // 202: taken; 404: the clear got there first (nothing open to acknowledge). Either way the alert ends cleared.
      expect([202, 404]).toContain(ack.status);
      await expectClearedAndAcknowledged(alertId, ack.status === 202);
    }
  });

  it('ends cleared when the clearing reading comes right after the acknowledgement was taken', async () => {
    for (let round = 0; round < ROUNDS_PER_ORDER; round++) {
      const { alertId } = await raise(100 + round);
      expect((await acknowledge(alertId)).status).toBe(202);
      await publish(20);
      await expectClearedAndAcknowledged(alertId, true);
    }
  });
});
