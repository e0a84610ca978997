import { promises as fs } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

/**
 * The console's build: `app/main.tsx` (Preact, uPlot, their CSS and ours) bundled by esbuild into
 * content-hashed files, and `app/index.html` with their names filled in. The conductor serves the
 * result as static files (services/conductor/src/http/console-assets.ts): locally it is built in
 * memory on the first request for the page (about 100 ms), in the AWS image at image build time
 * (`tsx console/src/build-cli.ts dist/conductor/console`).
 */

/** File name (no folder) → its bytes. Hashed names (`app-ABCD1234.js`) never change content. */
export type ConsoleFiles = Map<string, Uint8Array>;

const APP = path.join(__dirname, '..', 'app');

/** Bundles the console; rejects with esbuild's messages (file and line) when the source does not build. */
export async function buildConsole(options: { minify?: boolean } = {}): Promise<ConsoleFiles> {
  const result = await build({
    entryPoints: { app: path.join(APP, 'main.tsx') },
    bundle: true,
    write: false,
    outdir: '/console',
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    format: 'esm',
    target: ['chrome111', 'firefox115', 'safari16.4'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'silent',
    absWorkingDir: APP,
  });
  const files: ConsoleFiles = new Map();
  for (const out of result.outputFiles) files.set(path.basename(out.path), out.contents);
  const script = [...files.keys()].find((name) => /^app-\w+\.js$/.test(name));
  const style = [...files.keys()].find((name) => /^app-\w+\.css$/.test(name));
  if (!script || !style) throw new Error(`the console build made no script or no style sheet (made ${[...files.keys()].join(', ')})`);
  const html = (await fs.readFile(path.join(APP, 'index.html'), 'utf8')).replace('{{script}}', script).replace('{{style}}', style);
  files.set('index.html', new TextEncoder().encode(html));
  return files;
}

let built: Promise<ConsoleFiles> | undefined;

/** The console built once per process (the local composition starts one conductor per test); a failed build is tried again next time. */
export function consoleFiles(): Promise<ConsoleFiles> {
  built ??= buildConsole().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

/** Writes a build into `dir` (the AWS image's `console/` beside main.js). */
export async function writeConsole(dir: string): Promise<string[]> {
  const files = await buildConsole();
  await fs.mkdir(dir, { recursive: true });
  for (const [name, bytes] of files) await fs.writeFile(path.join(dir, name), bytes);
  return [...files.keys()];
}
