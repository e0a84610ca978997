import { sendingDomains, type Config } from './config';

/**
 * The governor's cap as people read it, stated one way everywhere (the console, `/api/setup`,
 * the CLI, `/metrics`' help text): provider calls per governor window, and what that is per
 * minute. The governor counts per window (GOVERNOR_WINDOW_MS), so the window is the unit; the
 * per-minute figure is derived from it, never the other way round. (`PER_MINUTE_MAX` is, despite
 * its name, the cap per window: "per minute" only with the default one-minute window.)
 */
export interface Cap {
  /** Provider calls allowed per governor window. */
  perWindow: number;
  windowMs: number;
  /** The same rate per minute (rounded to two decimals when the window does not divide a minute). */
  perMinute: number;
  /**
   * In the window's own unit, one unit only: "120 per minute", "20 per 10 s", "6000 per 2 min",
   * "1 per 1.5 s" (the issue: the header said "per minute" while the governor counted per 10 s).
   */
  text: string;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** Describes `perWindow` calls per `windowMs`: the one function that formats a cap. */
export function describeCap(perWindow: number, windowMs: number): Cap {
  if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`a cap needs a positive window (got ${windowMs} ms)`);
  if (!(perWindow >= 0) || !Number.isFinite(perWindow))
    throw new RangeError(`a cap needs a number of calls of at least 0 (got ${perWindow})`);
  const calls = Math.floor(perWindow);
  const perMinute = Math.round(((calls * MINUTE_MS) / windowMs) * 100) / 100;
  return { perWindow: calls, windowMs, perMinute, text: `${calls} per ${windowText(windowMs)}` };
}

/** The governor window in its own unit, as `describeCap` states it: "minute", "hour", "10 s", "2 min", "1.5 s", "1250 ms". */
export function windowText(windowMs: number): string {
  if (windowMs === MINUTE_MS) return 'minute';
  if (windowMs === HOUR_MS) return 'hour';
  if (windowMs % MINUTE_MS === 0) return `${windowMs / MINUTE_MS} min`;
  if (windowMs % 100 === 0) return `${formatNumber(windowMs / 1000)} s`;
  return `${windowMs} ms`;
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0$/, '');
}

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
