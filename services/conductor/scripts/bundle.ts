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
 *
 * And the one-machine composition's (`bundleLocal`, which `npm start` builds into local/dist/ first,
 * local/scripts/build.ts): the same esbuild settings, so both run as built the same way.
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

/** The render pool's task file and piscina's thread bootstrap: beside main.js in every bundle that starts the render pool. */
const POOL_ENTRIES = {
  'render-worker': path.join(ROOT, 'services/conductor/src/adapters/render-worker.ts'),
  worker: path.join(ROOT, 'node_modules/piscina/dist/worker.js'),
};

export async function bundleConductor(outdir: string, options: BundleOptions = {}): Promise<void> {
  await bundle(
    outdir,
    { main: options.main ?? path.join(ROOT, 'services/conductor/src/main.ts'), ...POOL_ENTRIES },
    options.target ?? 'node22',
    [],
  );
  if (options.withNice ?? true) copyNice(outdir);
}

/**
 * The local composition (`npm start`) as plain JavaScript, into `outdir` (local/dist/, by
 * local/scripts/build.ts): main.js; the function thread's task file (function-worker.js, which
 * function-threads.ts finds beside it) and the render pool's and piscina's, as in the conductor's
 * bundle. Run inside the repository: what stays outside the bundle loads from its node_modules,
 * as installed for this machine: the native modules (lmdb and the msgpackr-extract it loads,
 * lz4-napi, @napi-rs/nice), and `typescript`, which cosmiconfig (under mjml-core) requires only for a
 * TypeScript config file (never here) and which would be half of each file. main.js leaves MJML
 * out too: the conductor's thread never compiles a template (its render pool does), and
 * templating loads MJML at the first compile only (templating/src/mjml.ts).
 */
export async function bundleLocal(outdir: string, options: { target?: string } = {}): Promise<void> {
  const target = options.target ?? `node${process.versions.node.split('.')[0]}`;
  const native = ['lmdb', 'msgpackr-extract', 'lz4-napi', 'typescript', 'esbuild'];
  const threads = { 'function-worker': path.join(ROOT, 'local/src/function-worker.ts'), ...POOL_ENTRIES };
  await Promise.all([
    bundle(outdir, { main: path.join(ROOT, 'local/src/main.ts') }, target, [...native, 'mjml', 'mjml-core']),
    bundle(outdir, threads, target, native),
  ]);
}

async function bundle(outdir: string, entryPoints: Record<string, string>, target: string, external: string[]): Promise<void> {
  await build({
    entryPoints,
    bundle: true,
    platform: 'node',
    target,
    sourcemap: true,
    external: ['@napi-rs/nice', ...external],
    outdir,
    logLevel: 'warning',
  });
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
