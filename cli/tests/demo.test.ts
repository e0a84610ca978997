import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { runDemo, startDemo } from '../src/demo';

class Collector extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    callback();
  }
}

describe('baton demo', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'baton-demo-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a local Baton whose console answers and whose demo campaign sends at the pace asked', async () => {
    // Act
    const demo = await startDemo({ dataDir: dir, port: 0, perMinute: 600 });
    try {
      // Assess
      const page = await fetch(demo.consoleUrl);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
      const token = new URL(demo.consoleUrl).hash.replace('#token=', '');
      const view = await fetch(`${demo.baton.url}/api/campaigns/${demo.campaignId}`, { headers: { authorization: `Bearer ${token}` } });
      expect(view.status).toBe(200);
      expect(await view.json()).toMatchObject({ id: demo.campaignId, status: 'sending' });
      const deadline = Date.now() + 10_000;
      while (demo.baton.sink!.messages().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(demo.baton.sink!.messages().length).toBeGreaterThan(0);
    } finally {
      await demo.stop();
    }
  });

  it('prints the console link and stops cleanly when asked', async () => {
    // Prepare
    const out = new Collector();
    const stop = new AbortController();

    // Act
    const running = runDemo(['--data-dir', dir, '--port', '0', '--per-minute', '60'], out, stop.signal);
    const deadline = Date.now() + 10_000;
    while (!out.text.includes('Console:') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop.abort();

    // Assess
    await expect(running).resolves.toBe(0);
    expect(out.text).toMatch(/campaign \S+ is sending at 60 a minute/);
    expect(out.text).toMatch(/Console: http:\/\/localhost:\d+\/#token=/);
  });

  it('refuses a pace that is not a whole number', async () => {
    await expect(runDemo(['--per-minute', 'fast'], new Collector())).rejects.toThrow('--per-minute must be a whole number ≥ 1, got "fast"');
  });
});
