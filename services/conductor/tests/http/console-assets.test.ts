import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { consoleFromFolder, consoleRoutes, type ConsoleAssetSource } from '../../src/http/console-assets';

const PAGE = '<!doctype html><title>Baton</title><script type="module" src="/console/app-ABCD1234.js"></script>';
const files = (): Map<string, Uint8Array> =>
  new Map([
    ['index.html', Buffer.from(PAGE)],
    ['app-ABCD1234.js', Buffer.from('console.log(1)')],
    ['app-WXYZ5678.css', Buffer.from('body{}')],
    ['app-ABCD1234.js.map', Buffer.from('{}')],
  ]);

async function serve(source: ConsoleAssetSource | undefined) {
  const app = Fastify();
  consoleRoutes(app, source);
  await app.ready();
  return app;
}

describe('the console as static files', () => {
  it('serves the page at / with its content type, a strict content security policy and no-cache', async () => {
    // Prepare
    const app = await serve(async () => files());
    // Act
    const res = await app.inject({ method: 'GET', url: '/' });
    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toBe(PAGE);
  });

  it('serves content-hashed scripts, styles and maps with their types, cached for a year', async () => {
    // Prepare
    const app = await serve(async () => files());
    // Act
    const js = await app.inject({ method: 'GET', url: '/console/app-ABCD1234.js' });
    const css = await app.inject({ method: 'GET', url: '/console/app-WXYZ5678.css' });
    const map = await app.inject({ method: 'GET', url: '/console/app-ABCD1234.js.map' });
    // Assess
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(map.headers['content-type']).toBe('application/json; charset=utf-8');
    for (const res of [js, css, map]) expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe('console.log(1)');
  });

  it('answers 304 to a request that already holds the current version', async () => {
    // Prepare
    const app = await serve(async () => files());
    const first = await app.inject({ method: 'GET', url: '/' });
    // Act
    const again = await app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': String(first.headers.etag) } });
    // Assess
    expect(first.headers.etag).toMatch(/^"[\w-]{22}"$/);
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers 404 in JSON for a file it does not have, and for a name that is not a plain file name', async () => {
    // Prepare
    const app = await serve(async () => files());
    // Act
    const missing = await app.inject({ method: 'GET', url: '/console/nope.js' });
    const sneaky = await app.inject({ method: 'GET', url: '/console/..%2Fpackage.json' });
    // Assess
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'NOT_FOUND', message: 'no console file nope.js' });
    expect(sneaky.statusCode).toBe(404);
  });

  it('builds the files once, and tries again on the next request after a build that failed', async () => {
    // Prepare
    let calls = 0;
    const app = await serve(async () => {
      calls += 1;
      if (calls === 1) throw new Error('app/main.tsx:3: syntax error');
      return files();
    });
    // Act
    const failed = await app.inject({ method: 'GET', url: '/' });
    const ok = await app.inject({ method: 'GET', url: '/' });
    await app.inject({ method: 'GET', url: '/console/app-ABCD1234.js' });
    // Assess
    expect(failed.statusCode).toBe(500);
    expect(ok.statusCode).toBe(200);
    expect(calls).toBe(2);
  });

  it('says in words that the console is not part of a conductor started without one', async () => {
    // Prepare
    const app = await serve(undefined);
    // Act
    const res = await app.inject({ method: 'GET', url: '/' });
    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('started without its console');
  });

  it('reads the image build from a folder, and names the folder when its page is missing', async () => {
    // Prepare
    const dir = mkdtempSync(path.join(os.tmpdir(), 'console-'));
    const empty = mkdtempSync(path.join(os.tmpdir(), 'console-'));
    try {
      writeFileSync(path.join(dir, 'index.html'), PAGE);
      writeFileSync(path.join(dir, 'app-ABCD1234.js'), 'x');
      // Act
      const read = await consoleFromFolder(dir)();
      const refused = consoleFromFolder(empty)();
      // Assess
      expect([...read.keys()].sort()).toEqual(['app-ABCD1234.js', 'index.html']);
      await expect(refused).rejects.toThrow(`no console in ${empty}: index.html is missing`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
