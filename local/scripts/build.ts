/**
 * `npm start`'s build (its `prestart`): the local composition bundled into local/dist/ by esbuild
 * (services/conductor/scripts/bundle.ts, the conductor image's bundler), and the console's files
 * beside it, so that `npm start` runs plain JavaScript: no TypeScript loader in the process, and
 * no console build at its first page (docs/benchmarks.md, "Fourth pass: the floor").
 *   tsx local/scripts/build.ts [outdir]
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { writeConsole } from '@baton/console';
import { bundleLocal } from '../../services/conductor/scripts/bundle';

export const LOCAL_DIST = path.resolve(__dirname, '..', 'dist');

async function main(): Promise<void> {
  const outdir = path.resolve(process.argv[2] ?? LOCAL_DIST);
  const started = performance.now();
  rmSync(outdir, { recursive: true, force: true });
  await Promise.all([bundleLocal(outdir), writeConsole(path.join(outdir, 'console'))]);
  process.stderr.write(`baton: built ${path.relative(process.cwd(), outdir) || '.'} in ${Math.round(performance.now() - started)} ms\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`baton: the build failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
