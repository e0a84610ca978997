import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, loadConfig } from '@baton/shared';
import { startLocalBaton, type LocalBaton } from '../src/compose';
import { DevSecretError } from '../src/dev-secrets';
import { PortInUseError } from '../src/port';

/** A server holding a port on loopback, as another program would. */
async function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A logger whose lines are kept. */
function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('startLocalBaton', () => {
  let dataDir: string;
  const started: LocalBaton[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-local-'));
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((b) => b.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  function config(env: Record<string, string> = {}) {
    return loadConfig({ PORT: '0', BATON_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env });
  }

  it('refuses a port in use with a PortInUseError naming it and PORT, before logging that anything started', async () => {
    // Prepare
    const held = await holdPort();
    const { logger, lines } = capturingLogger();

    // Act
    const error = await startLocalBaton({ config: config({ PORT: String(held.port) }), logger, seedSample: false }).catch(
      (e: unknown) => e,
    );
    await held.release();

    // Assess
    expect(error).toBeInstanceOf(PortInUseError);
    expect((error as Error).message).toBe(`port ${held.port} is in use (PORT); stop the other process or set PORT`);
    expect(lines.join('')).not.toMatch(/started/);
  });

  it('generates the dev secrets on first start and reuses them on the next', async () => {
    // Act
    const first = await startLocalBaton({ config: config(), seedSample: false });
    await first.stop();
    const second = await startLocalBaton({ config: config(), seedSample: false });
    started.push(second);

    // Assess
    expect(first.apiTokenSource).toBe('data-dir');
    expect(second.apiToken).toBe(first.apiToken);
    expect(readFileSync(path.join(dataDir, 'unsubscribe-secret'), 'utf8')).toMatch(/^[0-9a-f]{48}\n$/);
  });

  it('refuses to start on a damaged unsubscribe secret, naming the file, and leaves the file as it was', async () => {
    // Prepare: links already sent were signed with whatever this once was
    const file = path.join(dataDir, 'unsubscribe-secret');
    writeFileSync(file, 'short\n');

    // Act
    const error = await startLocalBaton({ config: config(), seedSample: false }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DevSecretError);
    expect((error as Error).message).toBe(
      `${file} is damaged (it holds 5 characters, at least 16 are expected): delete it to generate a new one; unsubscribe links in messages already sent will then stop working`,
    );
    expect(readFileSync(file, 'utf8')).toBe('short\n');
  });

  it('refuses to start on a damaged API token file, naming the file', async () => {
    // Prepare
    const file = path.join(dataDir, 'api-token');
    writeFileSync(file, '');

    // Act
    const error = await startLocalBaton({ config: config(), seedSample: false }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DevSecretError);
    expect((error as Error).message).toContain(`${file} is damaged (it is empty): delete it to generate a new one`);
  });

  it('says the API token came from the environment when BATON_API_TOKEN gave it, and writes no token file', async () => {
    // Act
    const baton = await startLocalBaton({ config: config({ BATON_API_TOKEN: 'given-token-0123456789' }), seedSample: false });
    started.push(baton);

    // Assess
    expect(baton).toMatchObject({ apiToken: 'given-token-0123456789', apiTokenSource: 'environment' });
    expect(() => readFileSync(path.join(dataDir, 'api-token'))).toThrow(/ENOENT/);
  });

  it('bounds the expensive requests one token has under way at EXPENSIVE_REQUESTS_AT_ONCE', async () => {
    // Prepare: one upload under way, its body never finished.
    const baton = await startLocalBaton({ config: config({ EXPENSIVE_REQUESTS_AT_ONCE: '1' }), seedSample: false });
    started.push(baton);
    const auth = { authorization: `Bearer ${baton.apiToken}` };
    let open!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (controller) => void (open = controller) });
    open.enqueue(new TextEncoder().encode('email\na@example.com\n'));
    const stopped = new AbortController();
    const upload = fetch(`${baton.url}/api/uploads/acme/held.csv`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/csv' },
      body,
      duplex: 'half',
      signal: stopped.signal,
    } as RequestInit).catch(() => undefined);

    // Act: a second expensive request from the same token, once the first is being read.
    const check = () =>
      fetch(`${baton.url}/api/drafts/check`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ subject: 'Hi', mjml: '<mjml><mj-body></mj-body></mjml>' }),
      });
    let refused = await check();
    for (let tries = 0; refused.status === 200 && tries < 50; tries++) {
      await new Promise((r) => setTimeout(r, 20));
      refused = await check();
    }
    stopped.abort();
    await upload;

    // Assess
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: 'TOO_MANY_REQUESTS', limit: 1 });
  });
});
