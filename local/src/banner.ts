import type { Config } from '@baton/shared';
import type { LocalBaton } from './compose';

/**
 * What `npm start` prints once the conductor listens. The console link carries the API token
 * only when Baton generated it (dev, kept in the data folder); a token given in
 * BATON_API_TOKEN is never printed: stdout ends up in terminals, CI logs and screenshots.
 */
export function startupBanner(config: Config, baton: Pick<LocalBaton, 'url' | 'apiToken' | 'apiTokenSource' | 'sink'>): string {
  const base = config.BATON_PUBLIC_URL ?? `http://localhost:${new URL(baton.url).port}`;
  const open =
    baton.apiTokenSource === 'data-dir'
      ? `Open ${base}/#token=${baton.apiToken} and click "Send campaign".`
      : `Open ${base}/ and paste the API token from BATON_API_TOKEN, then click "Send campaign".`;
  return [
    '',
    `Baton is running (stage ${config.BATON_STAGE}, cap ${config.PER_MINUTE_MAX} per ${config.GOVERNOR_WINDOW_MS / 1000} s, ${config.MAX_WORKERS} workers).`,
    baton.sink
      ? `Emails go to the built-in Mailgun-compatible sink at ${baton.sink.url} (nothing leaves this machine).`
      : `Emails go to ${config.MAILGUN_URL}.`,
    open,
    'Press Ctrl+C to stop.',
    '',
  ].join('\n');
}
