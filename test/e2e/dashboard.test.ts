import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { io as ioClient } from 'socket.io-client';
import type { Page } from 'playwright-core';
import { addDevices, sluiceBin, startSluiceProcess, tempDataDir, type SluiceProcess } from '../support/sluice-process.js';
import { launchBrowser, openDashboard, saveScreenshot, type TestBrowser } from '../support/browser.js';

const execFileAsync = promisify(execFile);
const token = 'dashboard-e2e-token';

async function connectDevice(port: number, deviceId: string, secret: string, keepalive = 5): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: deviceId, password: secret, clientId: deviceId, reconnectPeriod: 0, keepalive });
}

/**
 * The keepalive of the 1,000 load devices. They publish at QoS 0, so they receive nothing but PINGRESPs, and mqtt.js
 * 5 counts only what it receives: it pings after one keepalive and closes the connection ("Keepalive timeout") when
 * the PINGRESP is not handled within half a keepalive more. With 5 s, a test process busy publishing 10,000
 * readings/s on a loaded machine handled it too late for 588 of 1,000 devices in one run, and the measurement went
 * on with 412 (then failed: the first row belonged to a device gone silent). 60 s, mqtt.js' default, leaves 30 s.
 */
const LOAD_KEEPALIVE_S = 60;

async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.textContent(selector))?.trim() ?? '';
}

describe('dashboard in Chromium (embedded mode)', () => {
  const device = 'dash-1';
  let sluice: SluiceProcess;
  let secrets: Record<string, string>;
  let browser: TestBrowser;
  let base: string;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    secrets = await addDevices(dataDir, [device, 'dash-2']);
    sluice = await startSluiceProcess({ DATA_DIR: dataDir, DASHBOARD_TOKEN: token, KAFKA_BROKERS: '', INFLUX_URL: '' });
    base = `http://127.0.0.1:${sluice.dashboardPort}`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    expect(await sluice?.stop()).toBe(0);
  });

  it('shows the login page and refuses a wrong token; the API and the socket stay closed', async () => {
    const page = await browser.newPage();
    const first = await page.goto(`${base}/`);
    expect(new URL(first!.url()).pathname).toBe('/login');
    await page.fill('#token', 'not-the-token');
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    expect(await textOf(page, '#login-error')).toContain('not valid');
    await saveScreenshot(page, 'login-refused');

    const direct = await page.goto(`${base}/?token=wrong`);
    expect(direct!.status()).toBe(401);
    expect(await page.isVisible('#login-error')).toBe(true);
    expect((await fetch(`${base}/api/devices`)).status).toBe(401);
    expect((await fetch(`${base}/api/pipeline`)).status).toBe(401);

    const refused = await new Promise<string>((resolve) => {
      const socket = ioClient(base, { transports: ['websocket'], auth: { token: 'wrong' }, reconnection: false });
      socket.on('connect', () => resolve('connected'));
      socket.on('connect_error', (error) => resolve(error.message));
    });
    expect(refused).toBe('unauthorized');

    await page.fill('#token', token);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    expect(new URL(page.url()).pathname).toBe('/');
    const cookie = (await browser.context.cookies(base)).find((c) => c.name === 'sluice_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await page.close();
  });

  it('shows a publishing device in the fleet table within a second and updates its value live', async () => {
    const page = await browser.newPage();
    await openDashboard(page, base, token);
    const client = await connectDevice(sluice.mqttPort, device, secrets[device]!);
    try {
      await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ temperature: 21.5, humidity: 40 }), { qos: 1 });
      const acked = Date.now();
      const value = `.row[data-device-id="${device}"] .kv[data-metric="temperature"] .v`;
      await page.waitForFunction(`document.querySelector(${JSON.stringify(value)})?.textContent === '21.50'`, undefined, { timeout: 1000 });
      const appearedMs = Date.now() - acked;
      console.log(`[dashboard] device row with its value appeared ${appearedMs} ms after PUBACK`);
      expect(await page.getAttribute(`.row[data-device-id="${device}"]`, 'data-status')).toBe('online');

      await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ temperature: 22.25, humidity: 41 }), { qos: 1 });
      await page.waitForFunction(`document.querySelector(${JSON.stringify(value)})?.textContent === '22.25'`, undefined, { timeout: 2000 });
      expect(await textOf(page, `.row[data-device-id="${device}"] .kv[data-metric="humidity"] .v`)).toBe('41');
      await saveScreenshot(page, 'fleet-live');
    } finally {
      await client.endAsync();
      await page.close();
    }
  });

  it('draws the device chart from the recent window and moves it live; lists dead letters with reasons', async () => {
    const page = await browser.newPage();
    await openDashboard(page, base, token);
    const client = await connectDevice(sluice.mqttPort, device, secrets[device]!);
    try {
      // Device timestamps a second apart, so the recent window spans seconds of the chart's time axis.
      const firstTs = Date.now() - 10_000;
      for (let i = 0; i < 5; i++) {
        await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ temperature: 20 + i, humidity: 40 + i, ts: firstTs + i * 1000 }), { qos: 1 });
      }
      await page.click(`.row[data-device-id="${device}"]`);
      const chart = '.chart-card[data-metric="temperature"]';
      await page.waitForSelector(`${chart} canvas`);
      await page.waitForFunction(`Number(document.querySelector(${JSON.stringify(chart)})?.dataset.points) >= 5`, undefined, { timeout: 5000 });
      const before = Number(await page.getAttribute(chart, 'data-points'));

      await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ temperature: 30 }), { qos: 1 });
      await client.publishAsync(`devices/${device}/telemetry`, '{"temperature": 21.5,', { qos: 1 });
      await page.waitForFunction(`Number(document.querySelector(${JSON.stringify(chart)})?.dataset.points) > ${before}`, undefined, { timeout: 5000 });
      await page.waitForSelector('#device-dead-letters li[data-code="INVALID_JSON"]', { timeout: 5000 });
      expect(await textOf(page, `${chart} .chart-value`)).toMatch(/^30(\.0+)?/);
      // The uPlot canvas has painted something: not every pixel is transparent.
      const painted = await page.evaluate<number>(`(() => {
        const c = document.querySelector(${JSON.stringify(`${chart} canvas`)});
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let opaque = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) opaque++;
        return opaque;
      })()`);
      expect(painted).toBeGreaterThan(100);
      await page.waitForSelector('#device-events li[data-type="online"]');
      await saveScreenshot(page, 'device-chart');
    } finally {
      await client.endAsync();
      await page.close();
    }
  });

  it('flips a device to offline when its connection drops (will / keepalive path)', async () => {
    const page = await browser.newPage();
    await openDashboard(page, base, token);
    const client = await connectDevice(sluice.mqttPort, 'dash-2', secrets['dash-2']!);
    await client.publishAsync('devices/dash-2/telemetry', JSON.stringify({ voltage: 3.3 }), { qos: 1 });
    const row = '.row[data-device-id="dash-2"]';
    await page.waitForSelector(`${row}[data-status="online"]`, { timeout: 5000 });
    // Abrupt: the TCP stream dies without DISCONNECT, as when a device loses power.
    client.stream.destroy();
    await page.waitForSelector(`${row}[data-status="offline"]`, { timeout: 15_000 });
    await page.fill('#fleet-search', 'dash-2');
    await page.waitForFunction(`document.querySelectorAll('.row:not([hidden])').length === 1`);
    await saveScreenshot(page, 'fleet-offline');
    client.end(true);
    await page.close();
  });

  it('shows the ingest rate, backends and embedded mode in the pipeline view', async () => {
    const page = await browser.newPage();
    await openDashboard(page, base, token);
    await page.goto(`${base}/#/pipeline`);
    const client = await connectDevice(sluice.mqttPort, device, secrets[device]!);
    // A dead letter of this test's own, so the test does not rely on an earlier one having made one.
    await client.publishAsync(`devices/${device}/telemetry`, '{"temperature": 21.5,', { qos: 1 });
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ temperature: 20 + (i % 10) }), { qos: 1 });
    })();
    try {
      await page.waitForFunction(`Number(document.querySelector('#ingest-rate')?.textContent?.replace(/k$/, '')) > 0`, undefined, { timeout: 10_000 });
      console.log(`[dashboard] pipeline view ingest rate: ${await textOf(page, '#ingest-rate')} readings/s`);
      expect(await page.isVisible('#embedded-banner')).toBe(true);
      expect(await page.isVisible('#mode-badge')).toBe(true);
      await page.waitForSelector('#backends li[data-ok="true"]');
      expect(await textOf(page, '#consumer-lag')).toContain('embedded mode');
      expect(await textOf(page, '#writer-state')).toMatch(/writing|idle/);
      await page.waitForFunction(`document.querySelector('#dead-letter-reasons')?.textContent?.includes('INVALID_JSON')`);
      // The time of the snapshot reads as every other time of day on the page (HH:MM:SS), whatever the browser's locale.
      expect(await textOf(page, '#pipeline-updated')).toMatch(/^Updated \d\d:\d\d:\d\d · uptime \d+ s · roles /);
      await saveScreenshot(page, 'pipeline');
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${base}/#/fleet`);
      await page.waitForSelector(`.row[data-device-id="${device}"]`);
      await saveScreenshot(page, 'fleet-phone');
    } finally {
      publishing = false;
      await publisher;
      await client.endAsync();
      await page.close();
    }
  });
});

describe('dashboard under load: 1,000 devices × 10 readings/s (measurement)', () => {
  const devices = 1000;
  const ratePerDevice = 10;
  let sluice: SluiceProcess;
  let browser: TestBrowser;
  let clients: MqttClient[] = [];
  let base: string;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    // Generated secrets are kept with a fast salted HMAC (docs/contracts.md §12): 1,000 devices register and log in
    // in seconds, through the real CLI.
    const out = join(dataDir, 'load-creds.json');
    await execFileAsync(process.execPath, [sluiceBin, 'devices', 'add', '--count', String(devices), '--prefix', 'load-', '--out', out], {
      env: { ...process.env, KAFKA_BROKERS: '', INFLUX_URL: '', DATA_DIR: dataDir },
    });
    const credentials = JSON.parse(await readFile(out, 'utf8')) as Record<string, { secret: string }>;
    sluice = await startSluiceProcess({ DATA_DIR: dataDir, DASHBOARD_TOKEN: token, KAFKA_BROKERS: '', INFLUX_URL: '', LIVE_WINDOW_MINUTES: '2' });
    base = `http://127.0.0.1:${sluice.dashboardPort}`;
    const ids = Object.keys(credentials);
    for (let i = 0; i < ids.length; i += 100) {
      clients.push(...(await Promise.all(ids.slice(i, i + 100).map((id) => connectDevice(sluice.mqttPort, id, credentials[id]!.secret, LOAD_KEEPALIVE_S)))));
    }
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
    clients = [];
    await browser?.close();
    await sluice?.stop();
  });

  it('keeps the fleet page responsive: long tasks and frame times are recorded', async () => {
    const page = await browser.newPage();
    // Installed before any page script: long tasks and the gaps between animation frames.
    await page.addInitScript({
      content: `
        window.__perf = { longTasks: [], frames: [] };
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) window.__perf.longTasks.push(entry.duration);
        }).observe({ type: 'longtask', buffered: true });
        let last = performance.now();
        const tick = (now) => { window.__perf.frames.push(now - last); last = now; requestAnimationFrame(tick); };
        requestAnimationFrame(tick);`,
    });

    // Publish: every 100 ms each device sends one reading (10 readings/s each), spread over the interval.
    let sent = 0;
    let publishing = true;
    const interval = 1000 / ratePerDevice;
    const publisher = (async () => {
      let round = 0;
      const started = Date.now();
      while (publishing) {
        for (let i = 0; i < clients.length; i++) {
          const client = clients[i]!;
          const id = client.options.username!;
          client.publish(`devices/${id}/telemetry`, `{"temperature":${(20 + Math.sin((round + i) / 10) * 5).toFixed(2)}}`, { qos: 0 });
          sent++;
          if (i % 200 === 199) await new Promise((r) => setImmediate(r));
        }
        round++;
        const wait = started + round * interval - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();

    try {
      await openDashboard(page, base, token);
      await page.waitForFunction(`document.querySelector('#fleet-summary')?.textContent?.startsWith('${devices} devices')`, undefined, { timeout: 30_000 });
      // Reset the counters once the table is full, then measure a steady window.
      await page.evaluate('window.__perf.longTasks.length = 0; window.__perf.frames.length = 0;');
      const sentBefore = sent;
      const measureStart = Date.now();
      const firstValue = await textOf(page, '.row:not([hidden]) .kv .v');
      // A steady window, ended by a condition: at least 15 s of frames recorded.
      await page.waitForFunction('window.__perf.frames.reduce((a, b) => a + b, 0) >= 15000', undefined, { timeout: 60_000, polling: 1000 });
      const seconds = (Date.now() - measureStart) / 1000;
      const perf = await page.evaluate<{ longTasks: number[]; frames: number[] }>('window.__perf');
      const summaryText = await textOf(page, '#fleet-summary');
      await saveScreenshot(page, 'fleet-1000-devices');

      const frames = [...perf.frames].sort((a, b) => a - b);
      const pct = (q: number) => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))] ?? 0;
      const longTotal = perf.longTasks.reduce((a, b) => a + b, 0);
      const report = {
        devices,
        offeredReadingsPerSec: Math.round((sent - sentBefore) / seconds),
        windowSec: Math.round(seconds * 10) / 10,
        frames: frames.length,
        fps: Math.round((frames.length / seconds) * 10) / 10,
        frameMs: { p50: +pct(0.5).toFixed(1), p95: +pct(0.95).toFixed(1), p99: +pct(0.99).toFixed(1), max: +(frames[frames.length - 1] ?? 0).toFixed(1) },
        longTasks: { count: perf.longTasks.length, totalMs: Math.round(longTotal), maxMs: Math.round(Math.max(0, ...perf.longTasks)), busyPct: +((longTotal / (seconds * 1000)) * 100).toFixed(1) },
        summary: summaryText,
      };
      console.log(`[dashboard] 1,000-device measurement: ${JSON.stringify(report)}`);

      // Not timing assertions: the page rendered the whole fleet and data kept arriving.
      // Every device still connected: the measurement is of the load it names.
      expect(summaryText).toMatch(/^1000 devices · 1000 online/);
      expect(await page.$$eval('.row:not([hidden])', (rows) => rows.length)).toBeGreaterThan(5);
      await page.waitForFunction(`document.querySelector('.row:not([hidden]) .kv .v')?.textContent !== ${JSON.stringify(firstValue)}`, undefined, { timeout: 10_000 });
      expect(Number(summaryText.match(/([\d.]+k?) msg\/s/)?.[1]?.replace('k', '')) || 0).toBeGreaterThan(0);

      // The device view under the same load: its chart fills and moves.
      await page.click('.row:not([hidden])');
      await page.waitForFunction(`Number(document.querySelector('.chart-card')?.dataset.points) > 10`, undefined, { timeout: 10_000 });
      await saveScreenshot(page, 'device-under-load');
    } finally {
      publishing = false;
      await publisher;
      await page.close();
    }
  }, 180_000);
});
