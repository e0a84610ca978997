import { ConfigError, createLogger, loadConfig } from '@baton/shared';
import { startupBanner } from './banner';
import { startLocalBaton } from './compose';
import { DevSecretError } from './dev-secrets';
import { PortInUseError } from './port';

/** `npm start`: the whole pipeline on this machine. */
async function main(): Promise<void> {
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
    baton = await startLocalBaton({ config, logger });
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

main().catch((err) => {
  process.stderr.write(`baton: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
