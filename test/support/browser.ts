import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { projectRoot } from './sluice-process.js';

/**
 * Debian's Chromium driven by playwright-core (docs/contracts.md §15): never a downloaded browser. Each launch gets a
 * fresh profile directory, removed on close.
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const screenshotDir = join(projectRoot, 'test-results', 'dashboard');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * SLUICE_BROWSER_CPU_THROTTLE=4 runs every page's scripts four times slower (Chrome's CPU throttling), as on a loaded
 * 2-core machine: a test whose waits hold only on a fast machine fails at once, instead of once in a while in CI.
 */
const CPU_THROTTLE = Number(process.env.SLUICE_BROWSER_CPU_THROTTLE ?? 1);

export interface TestBrowser {
  context: BrowserContext;
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'sluice-chromium-'));
  // A persistent context is how playwright takes a profile directory (it refuses --user-data-dir in args).
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', ...CHROMIUM_ARGS],
    viewport: { width: 1280, height: 800 },
    // The page's CSP forbids eval; test probes are evaluated strings (the test tsconfig has no DOM types).
    bypassCSP: true,
  });
  return {
    context,
    async newPage(viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      if (CPU_THROTTLE > 1) await (await context.newCDPSession(page)).send('Emulation.setCPUThrottlingRate', { rate: CPU_THROTTLE });
      return page;
    },
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Saves `test-results/dashboard/<name>.png` (gitignored; CI keeps it as an artifact). */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** Logs in through the URL the start-up prints (`/?token=…`) and waits for the app shell. */
export async function openDashboard(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/?token=${encodeURIComponent(token)}`);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
}
