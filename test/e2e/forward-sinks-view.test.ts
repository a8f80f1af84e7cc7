import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { launchBrowser, openDashboard, saveScreenshot, type TestBrowser } from '../support/browser.js';
import { paced } from '../support/wait.js';
import { startPrivateRabbitmq, type PrivateRabbitmq } from '../../scripts/sinks/rabbitmq.js';

/**
 * The operator's view of a forward sink (docs/contracts.md §16): the pipeline page's "Forward sinks" panel in a real
 * browser while a real RabbitMQ takes readings, is stopped, and comes back.
 */

const token = 'forward-sinks-view-token';
const js = (value: unknown) => JSON.stringify(value);
const row = '#sinks tr[data-sink="rabbitmq"]';
const cellText = (column: number) => `document.querySelector(${js(`${row} td:nth-child(${column})`)})?.textContent?.trim() ?? ''`;

describe('the pipeline view shows each forward sink: state, rate, lag and the last error', () => {
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const prefix = `fv${runId}`;
  const device = `fv-${runId}`;
  let server: PrivateRabbitmq;
  let sluice: SluiceProcess;
  let browser: TestBrowser;
  let page: Page;
  let client: MqttClient;
  let running = true;
  let publisher: Promise<void>;

  beforeAll(async () => {
    server = await startPrivateRabbitmq({ topicPrefix: prefix });
    const dataDir = await tempDataDir('sluice-forward-view-');
    const secret = (await addDevices(dataDir, [device]))[device]!;
    sluice = await startSluiceProcess(
      {
        ...server.env,
        DATA_DIR: dataDir,
        DASHBOARD_TOKEN: token,
        KAFKA_BROKERS: inject('kafkaBrokers'),
        INFLUX_URL: inject('influxUrl'),
        KAFKA_TOPIC_PREFIX: prefix,
        KAFKA_CLIENT_ID: `fv-${prefix}`,
        KAFKA_PARTITIONS: '2',
        FORWARDER_UNREADY_AFTER_MS: '2000',
      },
      { args: ['--roles', 'gateway,bridge,forwarder,dashboard'], timeoutMs: 120_000 },
    );
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${sluice.mqttPort}`, { username: device, password: secret, clientId: device, reconnectPeriod: 250 });
    let i = 0;
    publisher = paced(50, () => running, () => client.publishAsync(`devices/${device}/telemetry`, js({ temperature: 20 + (i++ % 10) / 10 }), { qos: 1 }).catch(() => undefined));
    browser = await launchBrowser();
    page = await browser.newPage();
    await openDashboard(page, `http://127.0.0.1:${sluice.dashboardPort}`, token);
    await page.goto(`http://127.0.0.1:${sluice.dashboardPort}/#/pipeline`);
  }, 240_000);

  afterAll(async () => {
    running = false;
    await publisher;
    await client?.endAsync(true).catch(() => undefined);
    await browser?.close();
    await sluice?.stop();
    await server?.close();
  }, 60_000);

  it('shows the sink writing, then retrying with the reason and a growing lag while its server is down, then writing again', async () => {
    await page.waitForSelector(`${row}[data-state="writing"]`, { timeout: 60_000 });
    expect(await page.isVisible('#sinks-pipeline')).toBe(true);
    await page.waitForFunction(`parseFloat(${cellText(3)}) > 0`, undefined, { timeout: 30_000 });
    expect(await page.evaluate(cellText(1))).toContain(`fv-${prefix}-${prefix}-sink-rabbitmq`);

    await server.stop();
    await page.waitForSelector(`${row}[data-state="retrying"]`, { timeout: 60_000 });
    // The reason names what failed (the connection), and readings wait in Kafka: the lag grows.
    await page.waitForFunction(`/connect|closed|refused/i.test(${cellText(7)})`, undefined, { timeout: 30_000 });
    await page.waitForFunction(`parseFloat(${cellText(4)}.replace(/,/g, '')) > 0`, undefined, { timeout: 30_000 });
    await page.waitForSelector('#backends li[data-backend="sink-rabbitmq"][data-ok="false"]', { timeout: 30_000 });
    await saveScreenshot(page, 'forward-sink-retrying');

    await server.start();
    await page.waitForSelector(`${row}[data-state="writing"]`, { timeout: 120_000 });
    await page.waitForFunction(`${cellText(4)} === '0'`, undefined, { timeout: 120_000 });
    await page.waitForSelector('#backends li[data-backend="sink-rabbitmq"][data-ok="true"]', { timeout: 30_000 });
    await saveScreenshot(page, 'forward-sink-writing');
  }, 360_000);
});
