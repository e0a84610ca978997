import { existsSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { consoleFromFolder } from '@baton/conductor';
import { ConfigError, createLogger, loadConfig } from '@baton/shared';
import { startupBanner } from './banner';
import { startLocalBaton } from './compose';
import { DevSecretError } from './dev-secrets';
import { PortInUseError } from './port';

/**
 * How much V8 lets a heap grow past what the last full collection left, in percent, in every
 * thread of this process (V8's flags are the process's). V8's own factor rises to 4 under a high
 * allocation rate: the conductor's thread, which reads and sends every rendered message, then
 * held 250–290 MB of heap with 60–90 MB live in the 20,000-recipient bench. At 50 it peaked at
 * 432 MB in all (from 633), at the same rate and about the same CPU (docs/benchmarks.md). A
 * `--heap-growing-percent` given to node (NODE_OPTIONS or the command line) wins. The young
 * generation's size is fixed when a heap is made, so `npm start` gives it on node's command line
 * (`--max-semi-space-size=8`; the function thread sets its own, function-threads.ts).
 */
const HEAP_GROWING_PERCENT = 50;

/** `npm start`: the whole pipeline on this machine. */
async function main(): Promise<void> {
  const nodeFlags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (!nodeFlags.includes('heap-growing-percent')) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`baton: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'baton' });
  let baton;
  try {
    baton = await startLocalBaton({ config, logger, console: builtConsole() });
  } catch (err) {
    // Problems the user can fix: said in one line, not as a stack.
    if (err instanceof PortInUseError || err instanceof DevSecretError) {
      process.stderr.write(`baton: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  process.stdout.write(startupBanner(config, baton));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ event: 'baton.stopping', signal }, 'stopping: no new leases, waiting for workers');
    baton.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ event: 'baton.stop_failed', err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** The console `npm start`'s build wrote beside this file (local/scripts/build.ts); none when run from source. */
function builtConsole() {
  const dir = path.join(__dirname, 'console');
  return existsSync(path.join(dir, 'index.html')) ? consoleFromFolder(dir) : undefined;
}

main().catch((err) => {
  process.stderr.write(`baton: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
