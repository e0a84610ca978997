import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(__dirname, '../../../..');

describe('the esbuild bundle of the render pool', () => {
  let outdir: string;
  beforeAll(() => {
    outdir = mkdtempSync(path.join(os.tmpdir(), 'baton-bundle-'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('runs tasks through render-worker.js and piscina worker.js found next to the bundle (as the Dockerfile lays them out)', async () => {
    // Prepare: the Dockerfile's entry points and flags, with a probe standing in for main.ts.
    await build({
      entryPoints: {
        'bundle-probe': path.join(__dirname, 'fixtures/bundle-probe.ts'),
        'render-worker': path.join(root, 'services/conductor/src/adapters/render-worker.ts'),
        worker: path.join(root, 'node_modules/piscina/dist/worker.js'),
      },
      bundle: true,
      platform: 'node',
      target: 'node20',
      external: ['@napi-rs/nice'],
      outdir,
      logLevel: 'silent',
    });
    expect(readdirSync(outdir).sort()).toEqual(['bundle-probe.js', 'render-worker.js', 'worker.js']);

    // Act: plain node, no tsx, nothing from the repository's node_modules.
    const out = execFileSync(process.execPath, [path.join(outdir, 'bundle-probe.js')], { cwd: outdir, encoding: 'utf8', timeout: 60_000 });

    // Assess
    expect(JSON.parse(out.trim())).toEqual({ subject: 'Hi Ann', refusedAs: 'TEMPLATE_INVALID' });
  }, 90_000);
});
