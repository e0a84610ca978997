import type { Cap } from './api-types';
import { describeCap } from './cap';
import { sendingDomains, type Config } from './config';

/**
 * The configured cap of a sending domain (the default domain when none is named, or when the
 * name is not configured): SENDING_DOMAINS or PER_MINUTE_MAX, per GOVERNOR_WINDOW_MS.
 */
export function configuredCap(
  config: Pick<Config, 'SENDING_DOMAINS' | 'MAILGUN_DOMAIN' | 'PER_MINUTE_MAX' | 'GOVERNOR_WINDOW_MS'>,
  domain?: string,
): Cap {
  const domains = sendingDomains(config);
  const chosen = domains.find((d) => d.domain === domain?.toLowerCase()) ?? domains[0]!;
  return describeCap(chosen.perWindowMax, config.GOVERNOR_WINDOW_MS);
}
