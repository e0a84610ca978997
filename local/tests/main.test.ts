import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const MAIN = path.join(__dirname, '..', 'src', 'main.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm start` as a user runs it, until it exits or, once `until` is printed, until it is stopped (SIGTERM). */
function runMain(env: Record<string, string>, until?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', TICK_MS: '100', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let stopped = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += String(d);
      if (until !== undefined && !stopped && stdout.includes(until)) {
        stopped = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => void (stderr += String(d)));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm start (local/src/main.ts)', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-main-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('says in one line that the port is in use, exits non-zero, and prints no "running" or "Open" line', async () => {
    // Prepare: another program holds the port
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    const port = (other.address() as net.AddressInfo).port;

    // Act
    const run = await runMain({ PORT: String(port), BATON_DATA_DIR: dataDir });
    await new Promise<void>((resolve) => other.close(() => resolve()));

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`baton: port ${port} is in use (PORT); stop the other process or set PORT\n`);
    expect(run.stdout).not.toMatch(/started|running|Open http/);
  });

  it('in qa, never prints the API token it was given, in the banner or in a log line', async () => {
    // Prepare
    const token = 'qa-api-token-do-not-print-0123';

    // Act
    const run = await runMain(
      {
        PORT: '0',
        BATON_DATA_DIR: dataDir,
        BATON_STAGE: 'qa',
        QA_ALLOWED_RECIPIENTS: 'qa@example.com',
        BATON_API_TOKEN: token,
        BATON_LEASE_TOKEN: 'qa-lease-token-0123456789',
        BATON_UNSUBSCRIBE_SECRET: 'qa-unsubscribe-secret-0123',
      },
      'Press Ctrl+C to stop.',
    );

    // Assess
    expect(run.stdout).toContain('Baton is running (stage qa');
    expect(run.stdout).toContain('paste the API token from BATON_API_TOKEN');
    expect(run.stdout + run.stderr).not.toContain(token);
  });
});
