import type { Cap } from './api-types';

/*
 * The governor's cap in words (`Cap`, api-types.ts), stated one way everywhere. The governor
 * counts per window (GOVERNOR_WINDOW_MS), so the window is the unit; the per-minute figure is
 * derived from it, never the other way round. (`PER_MINUTE_MAX` is, despite its name, the cap per
 * window: "per minute" only with the default one-minute window.) Pure, without the config:
 * configured-cap.ts reads a domain's cap from it.
 */

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
