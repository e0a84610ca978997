import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadConfig } from '@baton/shared';
import type { LocalBaton } from '../../local/src/compose';
import { UsageError } from './usage-error';

export const DEMO_USAGE = `  baton demo [--data-dir DIR] [--port N] [--per-minute N] [--no-open]
      Starts a local Baton (built-in Mailgun sink: nothing leaves this machine) with a demo
      campaign sending at N per minute (default 30), prints the console link and opens it.`;

export interface Demo {
  baton: LocalBaton;
  campaignId: string;
  /** The console, signed in (the token is the demo data folder's own). */
  consoleUrl: string;
  stop(): Promise<void>;
}

export interface DemoOptions {
  dataDir: string;
  port: number;
  perMinute: number;
}

/** A local Baton in `dev`, with the sample campaign created and sending, paced so its progress can be watched. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  // Imported here, not at the top: the rest of the CLI does not load the whole pipeline.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startLocalBaton, sampleCampaign } = require('../../local/src/compose') as typeof import('../../local/src/compose');
  const config = loadConfig({
    ...process.env,
    BATON_STAGE: 'dev',
    BATON_DATA_DIR: options.dataDir,
    PORT: String(options.port),
    PER_MINUTE_MAX: String(options.perMinute),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  const baton = await startLocalBaton({ config, seedSample: false });
  try {
    const created = await baton.service.conductor.createCampaign({ ...sampleCampaign(), name: `Demo (${options.perMinute} a minute)` });
    await baton.service.conductor.send(created.id);
    const base = `http://localhost:${new URL(baton.url).port}`;
    // A token from BATON_API_TOKEN is never printed; one Baton generated for the demo folder is.
    const consoleUrl = config.BATON_API_TOKEN === undefined ? `${base}/#token=${baton.apiToken}` : `${base}/`;
    return { baton, campaignId: created.id, consoleUrl, stop: () => baton.stop() };
  } catch (err) {
    await baton.stop();
    throw err;
  }
}

function parse(argv: string[]): DemoOptions & { open: boolean } {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        'data-dir': { type: 'string' },
        port: { type: 'string' },
        'per-minute': { type: 'string' },
        'no-open': { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const whole = (flag: string, v: string | undefined, fallback: number, min: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be a whole number ≥ ${min}, got "${v}"`);
    return n;
  };
  return {
    dataDir: values['data-dir'] ?? '.baton-demo',
    port: whole('--port', values.port, 8080, 0),
    perMinute: whole('--per-minute', values['per-minute'], 30, 1),
    open: values['no-open'] !== true,
  };
}

/** Asks the desktop to open `url`; a machine without one (a server, CI) just has the printed link. */
function openInBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(command, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

/** `baton demo`: runs until Ctrl+C (or `signal` aborts, for tests). */
export async function runDemo(argv: string[], out: NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  const options = parse(argv);
  const demo = await startDemo(options);
  out.write(
    [
      '',
      `Baton demo: campaign ${demo.campaignId} is sending at ${options.perMinute} a minute to the built-in sink (nothing leaves this machine).`,
      `Console: ${demo.consoleUrl}`,
      `Data: ${options.dataDir} (delete it to start afresh). Press Ctrl+C to stop.`,
      '',
    ].join('\n'),
  );
  if (options.open && (out as { isTTY?: boolean }).isTTY === true) openInBrowser(demo.consoleUrl);
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    if (signal?.aborted) return done();
    signal?.addEventListener('abort', done, { once: true });
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  out.write('stopping: waiting for the workers’ last calls…\n');
  await demo.stop();
  return 0;
}
