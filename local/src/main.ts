import { ConfigError, createLogger, loadConfig } from '@baton/shared';
import { startLocalBaton } from './compose';

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
  const baton = await startLocalBaton({ config, logger });
  const consoleUrl = (config.BATON_PUBLIC_URL ?? `http://localhost:${new URL(baton.url).port}`) + `/#token=${baton.apiToken}`;
  process.stdout.write(
    [
      '',
      `Baton is running (stage ${config.BATON_STAGE}, cap ${config.PER_MINUTE_MAX} per ${config.GOVERNOR_WINDOW_MS / 1000} s, ${config.MAX_WORKERS} workers).`,
      baton.sink
        ? `Emails go to the built-in Mailgun-compatible sink at ${baton.sink.url} (nothing leaves this machine).`
        : `Emails go to ${config.MAILGUN_URL}.`,
      `Open ${consoleUrl} and click "Send campaign".`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
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
