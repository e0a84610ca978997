/**
 * The conductor's bundle, as the image holds it (services/conductor/Dockerfile runs this, and so
 * does `npm run bundle -w services/conductor`):
 *   main.js           the service
 *   render-worker.js  the render pool's task file, which the pool finds next to main.js
 *   worker.js         piscina's own thread bootstrap, which piscina loads from its directory
 *   node_modules/@napi-rs/nice (+ its platform binary)
 *                     the native module piscina lowers the render threads' CPU priority with
 *                     (optional to piscina, so a bundle without it runs, silently at the
 *                     conductor's priority): native, so it cannot be bundled, and is copied as
 *                     installed for this platform (the image's build stage is the task's platform).
 *   tsx services/conductor/scripts/bundle.ts <outdir>
 */
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '../../..');
const NATIVE_SCOPE = path.join(ROOT, 'node_modules', '@napi-rs');

export interface BundleOptions {
  /** What to bundle as main.js (default the service's main.ts; a test bundles a probe instead). */
  main?: string;
  /** Default node22, the image's Node. */
  target?: string;
  /** Whether to copy @napi-rs/nice beside the bundle (default true). */
  withNice?: boolean;
}

export async function bundleConductor(outdir: string, options: BundleOptions = {}): Promise<void> {
  await build({
    entryPoints: {
      main: options.main ?? path.join(ROOT, 'services/conductor/src/main.ts'),
      'render-worker': path.join(ROOT, 'services/conductor/src/adapters/render-worker.ts'),
      worker: path.join(ROOT, 'node_modules/piscina/dist/worker.js'),
    },
    bundle: true,
    platform: 'node',
    target: options.target ?? 'node22',
    sourcemap: true,
    external: ['@napi-rs/nice'],
    outdir,
    logLevel: 'warning',
  });
  if (options.withNice ?? true) copyNice(outdir);
}

/** @napi-rs/nice and the platform packages npm installed for it (one, on a given machine). */
function copyNice(outdir: string): void {
  const packages = existsSync(NATIVE_SCOPE) ? readdirSync(NATIVE_SCOPE).filter((name) => name === 'nice' || name.startsWith('nice-')) : [];
  if (!packages.includes('nice') || packages.length < 2) {
    throw new Error(
      `bundle: @napi-rs/nice and its binary for ${process.platform}-${process.arch} are not installed (found: ${packages.join(', ') || 'none'})`,
    );
  }
  const target = path.join(outdir, 'node_modules', '@napi-rs');
  mkdirSync(target, { recursive: true });
  for (const name of packages) cpSync(path.join(NATIVE_SCOPE, name), path.join(target, name), { recursive: true });
}

if (require.main === module) {
  const outdir = process.argv[2];
  if (outdir === undefined) {
    console.error('usage: tsx services/conductor/scripts/bundle.ts <outdir>');
    process.exit(2);
  }
  bundleConductor(path.resolve(outdir)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
