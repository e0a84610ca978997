import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The console's files, name → bytes (the @baton/console build: `index.html` and content-hashed scripts and styles). */
export type ConsoleAssets = Map<string, Uint8Array>;

/** Where the conductor gets them: built in memory (local) or read from the image's folder (AWS). Called once, on the first request. */
export type ConsoleAssetSource = () => Promise<ConsoleAssets>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};
/** esbuild's `[name]-[hash]`: the content decides the name, so the file may be kept for a year. */
const HASHED = /-[A-Z0-9]{8}\.[a-z]+(\.map)?$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The page's own rules: scripts only from here (the API token lives in this page), frames only as
 * the sandboxed `srcdoc` previews, no embedding elsewhere. Those previews inherit this policy, and
 * email HTML brings inline styles, remote images and web fonts (MJML links Google Fonts): they
 * load, so a preview looks as it will in the recipient's mail client.
 */
const PAGE_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline' https:",
  "font-src 'self' https: data:",
  'img-src * data: blob:',
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

interface Served {
  body: Buffer;
  type: string;
  etag: string;
  cache: string;
}

/**
 * `GET /` (the page) and `GET /console/:file` (its scripts and styles), with their content types,
 * an ETag, `immutable` caching for content-hashed names and `no-cache` for the page, which names them.
 */
export function consoleRoutes(app: FastifyInstance, source: ConsoleAssetSource | undefined): void {
  let loading: Promise<Map<string, Served>> | undefined;
  const served = () => {
    loading ??= (source ?? noConsole)().then(prepare, (err: unknown) => {
      loading = undefined; // tried again on the next request
      throw err;
    });
    return loading;
  };
  const send = async (name: string, ifNoneMatch: string | undefined, reply: FastifyReply) => {
    const file = (await served()).get(name);
    if (!file) return reply.code(404).send({ error: 'NOT_FOUND', message: `no console file ${name}` });
    void reply.header('content-type', file.type).header('cache-control', file.cache).header('etag', file.etag);
    void reply.header('x-content-type-options', 'nosniff');
    if (name === 'index.html') void reply.header('content-security-policy', PAGE_POLICY).header('referrer-policy', 'no-referrer');
    if (ifNoneMatch === file.etag) return reply.code(304).send();
    return reply.send(file.body);
  };
  app.get('/', (req, reply) => send('index.html', req.headers['if-none-match'], reply));
  app.get<{ Params: { file: string } }>('/console/:file', (req, reply) =>
    send(NAME.test(req.params.file) ? req.params.file : '', req.headers['if-none-match'], reply),
  );
}

function prepare(assets: ConsoleAssets): Map<string, Served> {
  const out = new Map<string, Served>();
  for (const [name, bytes] of assets) {
    const body = Buffer.from(bytes);
    out.set(name, {
      body,
      type: TYPES[path.extname(name)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      cache: HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
  }
  return out;
}

/** A conductor started without a console (tests of the API alone) still answers `/` in words. */
async function noConsole(): Promise<ConsoleAssets> {
  const page = '<!doctype html><title>Baton</title><p>This conductor was started without its console; the API is under /api.</p>';
  return new Map([['index.html', new TextEncoder().encode(page)]]);
}

/** The console as built into the AWS image (`console/` beside main.js), read once. */
export function consoleFromFolder(dir: string): ConsoleAssetSource {
  return async () => {
    const names = await fs.readdir(dir);
    if (!names.includes('index.html')) throw new Error(`no console in ${dir}: index.html is missing (the image build writes it)`);
    return new Map(await Promise.all(names.map(async (name) => [name, await fs.readFile(path.join(dir, name))] as const)));
  };
}
