/**
 * The one rule for a domain name (a sending domain, MAILGUN_DOMAIN, a DAILY_LIMITS key): dot-separated
 * labels of letters, digits and inner hyphens (63 at most each, 253 in all), ending in a top-level label of two letters or more.
 * It becomes part of Mailgun's request path (`/v3/{domain}/messages`), so nothing else may pass.
 */
export const DOMAIN_NAME = /^(?=.{4,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.[a-z]{2,63}$/i;

export function isDomainName(s: string): boolean {
  return DOMAIN_NAME.test(s);
}
