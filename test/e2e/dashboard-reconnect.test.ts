import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page, Request } from 'playwright-core';
import { addDevices, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { launchBrowser, openDashboard, saveScreenshot, type TestBrowser } from '../support/browser.js';
import { paced } from '../support/wait.js';
import { freePort } from '../../scripts/ports.js';

/**
 * A SIGTERM restart of Sluice under open dashboard tabs (issue 13, item 5): the tabs show that the connection is
 * lost, with rates blanked and backends unknown, and come back by themselves — no reload — with data published
 * after the restart. The restarted process uses the same ports, DATA_DIR and DASHBOARD_TOKEN, so the page finds it
 * at the same address and its session cookie stays valid; a restart with another token sends the tabs to sign in.
 *
 * A stopping Sluice ends each socket with a socket.io DISCONNECT packet and then closes the transport, discarding
 * what has not been written yet. A tab whose socket is quiet at that moment gets the packet (`io server disconnect`,
 * after which socket.io-client does not reconnect by itself); a busy one usually loses it and sees a transport
 * close. Both are restarted here: a quiet fleet (the device gone first) and a device publishing throughout.
 */

const token = 'dashboard-reconnect-token';
const device = 'reconnect-1';
/** Each restart moves the published values up by STEP: a value at or above the new base on the page is fresh data. */
const FIRST = 20;
const STEP = 50;
const FRESH_WITHIN_MS = 10_000;

const js = (value: unknown) => JSON.stringify(value);
const textIs = (selector: string, text: string) => `document.querySelector(${js(selector)})?.textContent?.trim() === ${js(text)}`;
const numberAtLeast = (selector: string, min: number) => `parseFloat(document.querySelector(${js(selector)})?.textContent ?? '') >= ${min}`;
const visible = (selector: string) => `(() => { const el = document.querySelector(${js(selector)}); return !!el && !el.hidden && el.getClientRects().length > 0; })()`;

const temperatureCell = `.row[data-device-id="${device}"] .kv[data-metric="temperature"] .v`;
const rateCell = `.row[data-device-id="${device}"] .c-rate`;
const chartValue = '.chart-card[data-metric="temperature"] .chart-value';
const LOST = /^Connection lost — data as of \d\d:\d\d:\d\d$/;

describe('dashboard across a SIGTERM restart of Sluice (embedded mode, same ports)', () => {
  let env: Record<string, string>;
  let secret: string;
  let mqttUrl: string;
  let sluice: SluiceProcess;
  let browser: TestBrowser;
  let base: string;
  let client: MqttClient | undefined;
  let offset = FIRST;
  let sending = true;
  let running = true;
  let publisher: Promise<void>;
  const pages = {} as Record<'fleet' | 'device' | 'pipeline', Page>;
  /** socket.io DISCONNECT packets ("41") each tab received. */
  const disconnectPackets: Record<string, number> = { fleet: 0, device: 0, pipeline: 0 };

  function connectDevice(): MqttClient {
    // Reconnects by itself (250 ms) while Sluice is down. QoS 0 and no offline queue: nothing published before a
    // restart can arrive after it.
    const c = mqtt.connect(mqttUrl, { username: device, password: secret, clientId: device, reconnectPeriod: 250, connectTimeout: 2000, keepalive: 5, queueQoSZero: false });
    c.on('error', () => undefined);
    return c;
  }

  beforeAll(async () => {
    const dataDir = await tempDataDir('sluice-reconnect-');
    secret = (await addDevices(dataDir, [device]))[device]!;
    const [mqttPort, dashboardPort] = [await freePort(), await freePort()];
    env = { DATA_DIR: dataDir, DASHBOARD_TOKEN: token, KAFKA_BROKERS: '', INFLUX_URL: '', MQTT_PORT: String(mqttPort), DASHBOARD_PORT: String(dashboardPort) };
    sluice = await startSluiceProcess(env);
    expect([sluice.mqttPort, sluice.dashboardPort]).toEqual([mqttPort, dashboardPort]);
    base = `http://127.0.0.1:${dashboardPort}`;
    mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;

    client = connectDevice();
    let i = 0;
    publisher = paced(200, () => running, () => {
      if (sending && client?.connected) client.publish(`devices/${device}/telemetry`, js({ temperature: offset + (i++ % 10) / 10 }), { qos: 0 });
    });

    browser = await launchBrowser();
    for (const [name, hash] of [['fleet', '#/fleet'], ['device', `#/device/${device}`], ['pipeline', '#/pipeline']] as const) {
      const page = await browser.newPage();
      page.on('websocket', (ws) =>
        ws.on('framereceived', (frame) => {
          if (frame.payload === '41') disconnectPackets[name]!++;
        }),
      );
      await openDashboard(page, base, token);
      if (hash !== '#/fleet') await page.goto(`${base}/${hash}`);
      pages[name] = page;
    }
    await pages.fleet.waitForFunction(numberAtLeast(temperatureCell, FIRST), undefined, { timeout: 10_000 });
    await pages.device.waitForFunction(numberAtLeast(chartValue, FIRST), undefined, { timeout: 10_000 });
    await pages.pipeline.waitForSelector('#backends li[data-ok="true"]', { timeout: 10_000 });
    for (const page of Object.values(pages)) {
      await page.evaluate(`window.__marker = 'before-restart'`);
      expect(await page.isHidden('#conn-lost')).toBe(true);
    }
  });

  afterAll(async () => {
    running = false;
    await publisher;
    await client?.endAsync(true);
    await browser?.close();
    await sluice?.stop();
  });

  /** Down: every tab says so, with the time of its last data; nothing stale passes for current. */
  async function expectLostState(): Promise<void> {
    const { fleet, device: devicePage, pipeline } = pages;
    for (const page of Object.values(pages)) {
      await page.waitForFunction(visible('#conn-lost'), undefined, { timeout: 10_000 });
      expect(await page.textContent('#conn-lost .lost-headline')).toMatch(LOST);
      expect(await page.getAttribute('#conn', 'data-state')).toBe('lost');
    }
    await fleet.waitForFunction(textIs(rateCell, '—'), undefined, { timeout: 5000 });
    expect(await fleet.textContent('#fleet-summary')).toContain('— msg/s');
    await devicePage.waitForFunction(textIs('#device-rate', '— msg/s'), undefined, { timeout: 5000 });
    await pipeline.waitForFunction(textIs('#ingest-rate', '—'), undefined, { timeout: 5000 });
    await pipeline.waitForFunction(
      `(() => { const items = [...document.querySelectorAll('#backends li')]; return items.length > 0 && items.every((li) => li.dataset.ok === 'unknown' && li.textContent.includes('unknown')); })()`,
      undefined,
      { timeout: 5000 },
    );
    expect(await pipeline.$$('#backends li[data-ok="true"]')).toHaveLength(0);
  }

  /** Back: every tab shows a value of at least `fresh` (published after the restart) within 10 s, in the same document. */
  async function expectFreshData(fresh: number, restartedAt: number, what: string): Promise<void> {
    const { fleet, device: devicePage, pipeline } = pages;
    const left = () => Math.max(1, restartedAt + FRESH_WITHIN_MS - Date.now());
    await fleet.waitForFunction(numberAtLeast(temperatureCell, fresh), undefined, { timeout: left() });
    await devicePage.waitForFunction(numberAtLeast(chartValue, fresh), undefined, { timeout: left() });
    await pipeline.waitForSelector('#backends li[data-ok="true"]', { timeout: left() });
    await pipeline.waitForFunction(`parseFloat(document.querySelector('#ingest-rate')?.textContent ?? '') > 0`, undefined, { timeout: left() });
    console.log(`[dashboard-reconnect] ${what}: all three tabs showed data published after the restart ${Date.now() - restartedAt} ms after Sluice listened again`);
    for (const page of Object.values(pages)) {
      await page.waitForFunction(`!(${visible('#conn-lost')})`, undefined, { timeout: left() });
      expect(await page.getAttribute('#conn', 'data-state')).toBe('live');
      // The same document: no reload happened.
      expect(await page.evaluate('window.__marker')).toBe('before-restart');
    }
    await fleet.waitForFunction(`/^\\d/.test(document.querySelector(${js(rateCell)})?.textContent ?? '')`, undefined, { timeout: left() });
    expect(await pipeline.$$('#backends li[data-ok="unknown"]')).toHaveLength(0);
  }

  it('comes back after Sluice ended a quiet socket with "io server disconnect"', async () => {
    // A quiet fleet: the device leaves, and once its rate has decayed no frame is in flight at shutdown.
    sending = false;
    await client!.endAsync();
    client = undefined;
    await pages.fleet.waitForFunction(`document.querySelector(${js(`.row[data-device-id="${device}"]`)})?.dataset.status === 'offline'`, undefined, { timeout: 10_000 });
    await pages.fleet.waitForFunction(textIs(rateCell, '0.0'), undefined, { timeout: 15_000 });
    const packetsBefore = { ...disconnectPackets };

    expect(await sluice.stop('SIGTERM')).toBe(0);
    await expectLostState();
    // The path this test is for: every tab was told to go, rather than losing its transport.
    for (const name of Object.keys(pages)) expect(disconnectPackets[name], name).toBe(packetsBefore[name]! + 1);
    await saveScreenshot(pages.fleet, 'reconnect-lost-fleet');
    await saveScreenshot(pages.pipeline, 'reconnect-lost-pipeline');

    offset += STEP;
    sluice = await startSluiceProcess(env);
    const restartedAt = Date.now();
    client = connectDevice();
    sending = true;
    await expectFreshData(offset, restartedAt, 'quiet socket (io server disconnect)');
  });

  it('comes back after a restart while the device publishes throughout (frames in flight at shutdown)', async () => {
    await pages.fleet.waitForFunction(`/^\\d/.test(document.querySelector(${js(rateCell)})?.textContent ?? '') && parseFloat(document.querySelector(${js(rateCell)}).textContent) > 0`, undefined, { timeout: 10_000 });
    expect(await sluice.stop('SIGTERM')).toBe(0);
    await expectLostState();

    offset += STEP;
    sluice = await startSluiceProcess(env);
    await expectFreshData(offset, Date.now(), 'busy socket');
    await saveScreenshot(pages.device, 'reconnect-device-after');
  });

  it('polls GET /api/pipeline only while the pipeline view is open', async () => {
    const page = pages.pipeline;
    const polls: number[] = [];
    const onRequest = (request: Request) => {
      if (new URL(request.url()).pathname === '/api/pipeline') polls.push(Date.now());
    };
    page.on('request', onRequest);
    try {
      await expect.poll(() => polls.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      await page.evaluate(`window.location.hash = '#/fleet'`);
      await page.waitForSelector(temperatureCell);
      const leftAt = Date.now();
      // A window of more than two poll intervals, ended by data rather than a timer: the fleet table shows twelve
      // new values (the device publishes every 200 ms, fleet frames come every 400 ms).
      await page.evaluate(`(() => {
        window.__valueChanges = 0;
        new MutationObserver(() => window.__valueChanges++).observe(document.querySelector(${js(temperatureCell)}), { subtree: true, childList: true, characterData: true });
      })()`);
      await page.waitForFunction('window.__valueChanges >= 12', undefined, { timeout: 20_000 });
      expect(Date.now() - leftAt).toBeGreaterThan(4000);
      expect(polls.filter((at) => at > leftAt)).toEqual([]);

      await page.evaluate(`window.location.hash = '#/pipeline'`);
      await expect.poll(() => polls.filter((at) => at > leftAt).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      await page.waitForSelector('#backends li[data-ok="true"]', { timeout: 5000 });
    } finally {
      page.off('request', onRequest);
    }
  });

  it('sends every tab to the login page when Sluice comes back with another token', async () => {
    expect(await sluice.stop('SIGTERM')).toBe(0);
    for (const page of Object.values(pages)) await page.waitForFunction(visible('#conn-lost'), undefined, { timeout: 10_000 });

    sluice = await startSluiceProcess({ ...env, DASHBOARD_TOKEN: `${token}-rotated` });
    for (const page of Object.values(pages)) {
      await page.waitForURL((url) => url.pathname === '/login', { timeout: 15_000 });
      await page.waitForSelector('#token', { timeout: 5000 });
    }
    await saveScreenshot(pages.pipeline, 'reconnect-login');
  });
});
