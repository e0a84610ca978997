import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleConductor } from '../../scripts/bundle';

const probe = path.join(__dirname, 'fixtures/bundle-probe.ts');

/** Runs the bundle's main.js with plain node (no tsx, nothing from the repository's node_modules). */
function runBundle(outdir: string): { out: Record<string, unknown>; log: string } {
  const run = spawnSync(process.execPath, [path.join(outdir, 'main.js')], { cwd: outdir, encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`the bundle failed (${run.status}): ${run.stderr}`);
  return { out: JSON.parse(run.stdout.trim()) as Record<string, unknown>, log: run.stderr };
}

describe('the esbuild bundle of the render pool', () => {
  const outdirs: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-bundle-'));
    outdirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
  });

  it('runs tasks through render-worker.js and piscina worker.js found next to the bundle, its render thread 10 lower in priority (nice) (as the Dockerfile lays it out)', async () => {
    // Prepare: the Dockerfile's bundle script, with a probe standing in for main.ts.
    const outdir = fresh();
    await bundleConductor(outdir, { main: probe, target: 'node20' });
    expect(
      readdirSync(outdir)
        .filter((f) => !f.endsWith('.map'))
        .sort(),
    ).toEqual(['main.js', 'node_modules', 'render-worker.js', 'worker.js']);
    expect(readdirSync(path.join(outdir, 'node_modules/@napi-rs'))).toEqual(
      expect.arrayContaining(['nice', expect.stringMatching(new RegExp(`^nice-${process.platform}-${process.arch}`))]),
    );

    // Act
    const { out, log } = runBundle(outdir);

    // Assess
    expect(out).toEqual({ subject: 'Hi Ann', refusedAs: 'TEMPLATE_INVALID', threadNice: 10 });
    expect(log).not.toMatch(/render_pool.priority_unchanged/);
  }, 90_000);

  it("still runs without @napi-rs/nice, at the conductor's priority, and says so in one log line", async () => {
    // Prepare
    const outdir = fresh();
    await bundleConductor(outdir, { main: probe, target: 'node20', withNice: false });

    // Act
    const { out, log } = runBundle(outdir);

    // Assess
    expect(out).toEqual({ subject: 'Hi Ann', refusedAs: 'TEMPLATE_INVALID', threadNice: 0 });
    expect(log.match(/"event":"render_pool.priority_unchanged"/g)).toHaveLength(1);
  }, 90_000);
});
