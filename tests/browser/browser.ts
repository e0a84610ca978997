import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const ARTIFACTS = path.join(__dirname, 'artifacts');

/** Debian's Chromium (CI installs it with apt-get, see .ci/run); puppeteer's own download does not work here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface Session {
  browser: Browser;
  page: Page;
  downloads: string;
  /** Saves a screenshot as artifacts/NN-name.png. */
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

/** A fresh headless Chromium (its own profile folder, no background traffic) with one page. */
export async function openBrowser(): Promise<Session> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'baton-chromium-'));
  const downloads = mkdtempSync(path.join(os.tmpdir(), 'baton-downloads-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
      `--user-data-dir=${profile}`,
    ],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 900 });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  let n = 0;
  return {
    browser,
    page,
    downloads,
    async shot(name) {
      n += 1;
      await page.screenshot({ path: path.join(ARTIFACTS, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true });
    },
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
      rmSync(downloads, { recursive: true, force: true });
    },
  };
}
