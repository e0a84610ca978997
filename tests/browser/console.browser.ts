import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ElementHandle, Page } from 'puppeteer-core';
import type { LocalBaton } from '../../local/src/compose';
import { removeDir, startBaton } from '../e2e/helpers';
import { openBrowser, type Session } from './browser';

/**
 * A marketer's whole job in the real console, in headless Chromium, against the real local
 * composition (built-in Mailgun sink) on loopback: create a campaign from the form with a CSV
 * upload, see a merge-field warning, test-send, send, watch the chart and the counts move, pause,
 * resume, open a message in the local inbox, download the recipients CSV. Every step leaves a
 * screenshot in tests/browser/artifacts/.
 */

const RECIPIENTS = 30;
/** 4 per 2 s: about 15 s of sending, long enough to watch and pause. */
const ENV = { PER_MINUTE_MAX: '4', GOVERNOR_WINDOW_MS: '2000', GOVERNOR_SLICE_MS: '100', TICK_MS: '50' };

const COUNT_KEYS = [
  'queued',
  'inFlight',
  'retrying',
  'sent',
  'failed',
  'invalid',
  'duplicate',
  'suppressed',
  'inDoubt',
  'notAccepted',
  'cancelled',
];

let baton: LocalBaton;
let dataDir: string;
let s: Session;
let page: Page;
let csvPath: string;
let stopped = false;
const problems: string[] = [];

beforeAll(async () => {
  ({ baton, dataDir } = await startBaton(ENV));
  s = await openBrowser();
  page = s.page;
  page.on('dialog', (dialog) => void dialog.accept());
  // Script errors and anything the page's content security policy refused: there should be none.
  page.on('pageerror', (err) => problems.push(`page error: ${String(err)}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) problems.push(`refused: ${m.text()}`);
  });
  const rows = Array.from({ length: RECIPIENTS }, (_, i) => `reader${String(i + 1).padStart(2, '0')}@example.com,Reader ${i + 1},Zürich`);
  csvPath = path.join(dataDir, 'spring-audience.csv');
  // Line 5 is not an address: listed by line in the campaign's audience problems.
  writeFileSync(
    csvPath,
    ['email,first_name,city', ...rows.slice(0, 3), 'not-an-address,Nobody,Nowhere', ...rows.slice(3)].join('\n') + '\n',
  );
});

afterAll(async () => {
  await s?.close();
  if (!stopped) await baton?.stop();
  if (dataDir) removeDir(dataDir);
});

/** The element a user finds by its label or its text (puppeteer's accessibility-tree query). */
const byLabel = (name: string) => page.locator(`::-p-aria(${name})`);
const button = (name: string) => page.locator(`::-p-aria([name="${name}"][role="button"])`);
const tab = (name: string) => page.locator(`::-p-aria([name="${name}"][role="tab"])`);
const textOf = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');

async function counts(): Promise<Record<string, number>> {
  return page.$$eval('[data-count]', (els) =>
    Object.fromEntries(els.map((el) => [el.getAttribute('data-count')!, Number((el.textContent ?? '').replace(/,/g, ''))])),
  );
}

/** Polls the page's tiles until `done` holds, checking at every look that they add up to the total. */
async function watchCounts(done: (k: Record<string, number>) => boolean, timeoutMs = 40_000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const k = await counts();
    if (k.total) expect({ sum: COUNT_KEYS.reduce((n, key) => n + (k[key] ?? 0), 0), k }).toEqual({ sum: k.total, k });
    if (done(k)) return k;
    if (Date.now() > deadline) throw new Error(`the counts did not get there: ${JSON.stringify(k)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the console', () => {
  it('asks for the token in plain words when the one it has is wrong', async () => {
    // Act
    await page.goto(`${baton.url}/#token=not-the-token`);
    // Assess
    await page.waitForFunction(() => document.body.innerText.includes('Baton did not accept this API token.'));
    expect(await page.$('#token-input')).not.toBeNull();
    expect(page.url()).not.toContain('not-the-token'); // the fragment is taken out of the address bar
    await s.shot('wrong-token');
  });

  it('takes a marketer from a new campaign to a finished send without leaving the page', async () => {
    // Prepare: the link printed at start.
    await page.goto(`${baton.url}/#token=${baton.apiToken}`);
    await page.waitForFunction(() => document.body.innerText.includes('No campaigns yet'));
    expect(await textOf('.cap')).toBe('Cap: 4 per 2 s');
    await s.shot('empty');

    // Create, from the form, with a CSV upload and a misspelt merge field in the subject.
    await button('New campaign').click();
    await byLabel('Name').fill('Spring newsletter');
    await byLabel('Customer').fill('acme');
    await byLabel('From').fill('Acme News <news@acme.example>');
    await byLabel('Subject').fill('Spring is here, {{ frist_name }}');
    const domain = await page.waitForSelector('::-p-aria(Sending domain)');
    expect(await domain!.evaluate((el) => (el as HTMLSelectElement).value)).toBe('mg.example.com');
    const template = await page.waitForSelector('::-p-aria(Template)');
    expect(await template!.evaluate((el) => (el as HTMLTextAreaElement).value)).toContain('{{ unsubscribe_url }}');
    // Puppeteer's aria query does not find the file input by its label (tried): found through the <label> itself.
    const upload = (await page.evaluateHandle(
      () => [...document.querySelectorAll('label')].find((l) => l.textContent?.trim() === 'Audience')?.control,
    )) as ElementHandle<HTMLInputElement>;
    await upload!.uploadFile(csvPath);
    await page.waitForFunction(() => document.body.innerText.includes('spring-audience.csv'));
    await page.waitForFunction(
      () => [...document.querySelectorAll('.problems li')].some((li) => /Subject.*frist_name/.test(li.textContent ?? '')),
      {
        timeout: 10_000,
      },
    );
    await page.waitForSelector('iframe.preview');
    await s.shot('merge-field-warning');

    await byLabel('Subject').fill('Spring is here, {{ first_name }}');
    // Fixed: what is left is the audience's bad row, named by its line.
    await page.waitForFunction(() => !document.body.innerText.includes('frist_name'), { timeout: 10_000 });
    expect(await page.$$eval('.problems li', (items) => items.map((li) => li.textContent))).toEqual([
      expect.stringMatching(/^Audience line 5.*not a valid address/),
    ]);
    await s.shot('checks-after-fix');
    await button('Create campaign').click();
    await page.waitForSelector('#campaign-title');
    expect(await textOf('#campaign-title')).toContain('Spring newsletter');
    expect(await textOf('#campaign-title')).toContain('Draft');

    // Test send to myself, then see it in the local inbox below.
    await byLabel('Your email address').fill('me@acme.example');
    await button('Send test').click();
    await page.waitForFunction(() => document.body.innerText.includes('Test sent to me@acme.example'));
    await page.waitForFunction(() => document.querySelector('iframe.preview')?.getAttribute('srcdoc')?.includes('Reader 1') ?? false);
    await s.shot('draft-preview-test-sent');

    // Send, and watch the counts and the chart move.
    await button('Send campaign').click();
    await page.waitForFunction(() => document.querySelector('#campaign-title .status')?.textContent === 'Sending');
    await tab('Progress').click();
    const moving = await watchCounts((k) => (k.sent ?? 0) >= 4);
    expect(moving.total).toBe(RECIPIENTS + 1);
    expect(moving.invalid).toBe(1);
    await page.waitForFunction(() =>
      /^[1-9]\d* sent by this campaign/.test(document.querySelector('.chart')?.getAttribute('aria-label') ?? ''),
    );
    expect(await page.$('.chart canvas')).not.toBeNull();
    await s.shot('sending');

    // Pause: the page says what may still arrive, and nothing else reaches the provider.
    await button('Pause').click();
    await page.waitForFunction(() => document.querySelector('#campaign-title .status')?.textContent === 'Paused');
    const view = await campaignView('Spring newsletter');
    expect(view.pause).toMatchObject({ inFlight: expect.any(Number), message: expect.any(String) });
    await page.waitForFunction((text) => document.querySelector('.campaign-panel')?.textContent?.includes(text), {}, view.pause!.message);
    const atPause = await watchCounts((k) => (k.inFlight ?? 0) === 0, 20_000);
    await new Promise((r) => setTimeout(r, Math.max(2500, Date.parse(view.pause!.endsBy) - Date.now() + 500))); // past endsBy and a window
    const later = await counts();
    expect(later.sent).toBe(atPause.sent);
    expect(later.sent).toBeLessThan(RECIPIENTS);
    const pausedAt = Date.parse(view.pause!.at);
    const arrivedAfter = baton.sink!.messages().filter((m) => m.variables['campaign-id'] === view.id && m.receivedAt > pausedAt);
    expect(arrivedAfter.length).toBeLessThanOrEqual(view.pause!.inFlight);
    await s.shot('paused');

    // Resume, to the end.
    await button('Resume').click();
    const done = await watchCounts((k) => k.sent === RECIPIENTS, 60_000);
    expect(done.invalid).toBe(1);
    await page.waitForFunction(() => document.querySelector('#campaign-title .status')?.textContent === 'Done');
    expect(await page.$eval('.campaign-panel', (el) => el.textContent)).toContain('Audience problems');
    await s.shot('done');

    // The campaign's own preview, as another audience row gets it.
    await tab('Preview and test').click();
    await page.waitForFunction(() => document.querySelector('iframe.preview')?.getAttribute('srcdoc')?.includes('Reader 1') ?? false);
    await page.locator('.preview-tab input[type="number"]').fill('3');
    await page.waitForFunction(() =>
      document.querySelector('.preview-tab p.muted')?.textContent?.includes('as row 3 of the audience gets it'),
    );
    expect(await page.$eval('iframe.preview', (el) => el.getAttribute('srcdoc'))).toMatch(/Reader 3(?!\d)/);

    // The local inbox: open a message, in a sandboxed frame, with its headers and text.
    await tab('Local inbox').click();
    await page.waitForFunction((n) => document.querySelectorAll('.inbox tbody tr').length >= Math.min(n, 25), {}, RECIPIENTS);
    await page.locator('.inbox tbody tr button.link').click();
    const frame = await page.waitForSelector('.message iframe');
    expect(await frame!.evaluate((el) => el.getAttribute('sandbox'))).toBe('');
    expect(await frame!.evaluate((el) => el.getAttribute('srcdoc'))).toMatch(/Reader \d+/);
    expect(await textOf('.message')).toContain('news@acme.example');
    // Rendered, though the page's scripts cannot reach into it (sandbox without allow-same-origin).
    const inside = await frame!.contentFrame();
    await inside.waitForFunction(() => /Hello Reader \d+/.test(document.body?.innerText ?? ''));
    await s.shot('inbox-message');

    // The recipient list and its CSV.
    await tab('Recipients').click();
    await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr').length > 0);
    await button('Download CSV').click();
    const file = await waitForDownload(s.downloads);
    const csv = readFileSync(file, 'utf8').trim().split(/\r?\n/);
    expect(csv[0]).toBe('email,status,reason,at,providerMessageId,delivery');
    expect(csv.filter((line) => line.includes(',sent,'))).toHaveLength(RECIPIENTS);
    await s.shot('recipients');

    // A search is the server's (`?q=`, any case), so it finds anyone, not only the rows loaded.
    const rowsOfTable = () => page.$$eval('table.list tbody tr td:first-child', (cells) => cells.map((c) => c.textContent));
    const searchBox = page.locator('input[type="search"][placeholder="part of an address"]');
    const searched = page.waitForResponse((r) => /\/recipients\?.*q=READER07/.test(r.url()) && r.ok());
    await searchBox.fill('READER07');
    await searched;
    await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr').length === 1);
    expect(await rowsOfTable()).toEqual(['reader07@example.com']);
    await page.waitForFunction(() => document.body.innerText.includes('1 recipient found (all).'));
    await s.shot('recipients-search');
    // Emptied as a user does (select all, delete): the whole list again.
    await searchBox.click();
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    await page.waitForFunction(() => document.body.innerText.includes('recipients shown (all).'));
    expect(await rowsOfTable()).toHaveLength(RECIPIENTS + 1);
    expect(problems).toEqual([]);
  });

  it('clones a campaign with its audience, deletes a draft and schedules a send', async () => {
    // Prepare: the finished campaign of the test above is selected.
    await button('Clone').click();
    await page.waitForFunction(() => document.querySelector('.editor h2')?.textContent?.startsWith('Clone of Spring newsletter'));
    expect(await page.$eval('#f-name', (el) => (el as HTMLInputElement).value)).toBe('Spring newsletter (copy)');
    expect(await page.$eval('#f-subject', (el) => (el as HTMLInputElement).value)).toBe('Spring is here, {{ first_name }}');
    await page.waitForFunction(() => document.body.innerText.includes('Keeps the audience of Spring newsletter;'));
    await s.shot('clone');

    // Act: a clone, deleted while it is a draft.
    await button('Create campaign').click();
    await page.waitForFunction(() => document.querySelector('#campaign-title')?.textContent?.includes('Spring newsletter (copy)'));
    await button('Delete').click();
    await page.waitForFunction(() => !document.querySelector('.campaigns')?.textContent?.includes('(copy)'));

    // Act: another, scheduled for tomorrow at nine.
    await button('Clone').click();
    await byLabel('Name').fill('Spring reminder');
    // A new audience dropped on the form replaces the one cloned.
    await page.$eval('.drop', (zone) => {
      const files = new DataTransfer();
      files.items.add(new File(['email,first_name\nlate@example.com,Late\n'], 'late-signups.csv', { type: 'text/csv' }));
      zone.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: files }));
    });
    await page.waitForFunction(() => document.querySelector('.drop')?.textContent?.includes('late-signups.csv'));
    await button('Create campaign').click();
    await page.waitForFunction(() => document.querySelector('#campaign-title')?.textContent?.includes('Spring reminder'));
    await button('Schedule').click();
    const tomorrow = new Date(Date.now() + 24 * 3600_000);
    const local = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, '0')}-${String(tomorrow.getDate()).padStart(2, '0')}T09:00`;
    await page.$eval(
      '#schedule-at',
      (el, value) => {
        const input = el as HTMLInputElement;
        input.value = value;
        input.dispatchEvent(new Event('input', { bubbles: true }));
      },
      local,
    );
    await button('Schedule send').click();

    // Assess
    await page.waitForFunction(() => document.querySelector('#campaign-title .status')?.textContent === 'Scheduled');
    expect(await textOf('.campaign-panel')).toMatch(/Scheduled/);
    const listed = await page.$$eval('.campaigns .name', (els) => els.map((el) => el.textContent));
    expect(listed.sort()).toEqual(['Spring newsletter', 'Spring reminder']);
    await s.shot('scheduled');
  });

  it('says in plain words when Baton is not running', async () => {
    // Act
    await baton.stop();
    stopped = true;
    // Assess
    await page.waitForFunction(() =>
      document.querySelector('[role=alert]')?.textContent?.includes('Cannot reach Baton. Is it still running?'),
    );
    expect(await textOf('.live')).toBe('Not up to date');
    await s.shot('server-down');
  });
});

/** The campaign as the API shows it (for what the page should say, and when). */
interface ListedCampaign {
  id: string;
  name: string;
  pause?: { at: string; inFlight: number; endsBy: string; message: string };
}

async function campaignView(name: string): Promise<ListedCampaign> {
  const res = await fetch(`${baton.url}/api/campaigns`, { headers: { authorization: `Bearer ${baton.apiToken}` } });
  const { campaigns } = (await res.json()) as { campaigns: ListedCampaign[] };
  return campaigns.find((c) => c.name === name)!;
}

async function waitForDownload(dir: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const done = readdirSync(dir).filter((n) => n.endsWith('.csv'));
    if (done.length > 0) return path.join(dir, done[0]!);
    if (Date.now() > deadline) throw new Error(`no download in ${dir}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
