import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/port';

const LOCAL = path.join(__dirname, '..');
const REPO = path.join(LOCAL, '..');
const TOKEN = 'build-test-token-0123456789abcdef';

describe("npm start's build (local/scripts/build.ts)", () => {
  // Beside local/dist, so that main.js finds local/sample as it does from there.
  const outdir = mkdtempSync(path.join(LOCAL, 'dist-test-'));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-build-'));
  afterAll(() => {
    rmSync(outdir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs with plain node, no TypeScript loader: it serves the built console, checks a draft in its render pool, and delivers the sample campaign', async () => {
    // Prepare: the build, as `npm start`'s prestart runs it
    const build = spawnSync(process.execPath, ['--import', 'tsx', path.join(LOCAL, 'scripts/build.ts'), outdir], {
      cwd: REPO,
      encoding: 'utf8',
    });
    expect(build.status).toBe(0);
    expect(readdirSync(outdir).filter((f) => !f.endsWith('.map'))).toEqual(
      expect.arrayContaining(['main.js', 'function-worker.js', 'render-worker.js', 'worker.js', 'console']),
    );
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(outdir, 'main.js')], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        BATON_DATA_DIR: dataDir,
        BATON_API_TOKEN: TOKEN,
        LOG_LEVEL: 'warn',
        TICK_MS: '50',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => String(d).includes('Baton is running') && resolve()));
      const url = `http://127.0.0.1:${port}`;
      const call = async <T>(method: string, route: string, body?: unknown) => {
        const res = await fetch(`${url}${route}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as T };
      };

      // Act
      const page = await fetch(`${url}/`);
      const pageHtml = await page.text();
      const { body } = await call<{ campaigns: { id: string }[] }>('GET', '/api/campaigns');
      const sample = body.campaigns[0]!;
      const check = await call<{ problems: { message: string }[] }>('POST', '/api/drafts/check', {
        from: 'Ann <ann@example.com>',
        subject: 'Hi {{ frist_name }}',
        mjml: '<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>',
        audienceCsv: 'email,first_name\nann@example.com,Ann\n',
      });
      const sent = await call('POST', `/api/campaigns/${sample.id}/send`);
      let view: { status: string; counts: Record<string, number> };
      for (;;) {
        view = (await call<typeof view>('GET', `/api/campaigns/${sample.id}`)).body;
        if (view.status === 'done') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }

      // Assess
      expect(page.status).toBe(200);
      expect(pageHtml).toMatch(/<script[^>]+app-\w+\.js/);
      expect(check.status).toBe(200);
      expect(check.body.problems.map((p) => p.message).join('\n')).toMatch(/frist_name/);
      expect(sent.status).toBe(202);
      expect(view.counts).toMatchObject({ total: 50, sent: 50, failed: 0 });
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 120_000);
});
