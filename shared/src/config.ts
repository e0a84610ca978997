import { z } from 'zod';
import { DOMAIN_NAME } from './domain-name';
import { allowList, decimal, httpUrl, logLevel, wholeNumber } from './env-schemas';
import { ConfigError, type InputIssue } from './errors';
import { isTimeZone } from './schemas';
import { STAGES, type Stage } from './api-types';

/**
 * Configuration is read once from the environment, validated, and frozen. Every bad variable
 * is reported at once, each on its own line with its name, what was expected and what was got.
 * An empty variable counts as unset.
 */

type Env = Record<string, string | undefined>;

const secret = z.string().min(16, { message: 'must be at least 16 characters' });

/** `name=number, name=number`: per-domain caps, per-customer weights or caps. */
function namedNumbers(name: RegExp, what: string, min: number, max: number) {
  return z.string().transform((s, ctx) => {
    const out: Record<string, number> = {};
    for (const part of s
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0)) {
      const m = /^([^=\s]+)\s*=\s*(\d+(?:\.\d+)?)$/.exec(part);
      const value = m ? Number(m[2]) : Number.NaN;
      if (!m || !name.test(m[1]!) || !(value >= min && value <= max)) {
        ctx.addIssue({ code: 'custom', message: `entries must be ${what}=number (${min} to ${max}), comma-separated; "${part}" is not` });
        return z.NEVER;
      }
      const key = m[1]!.toLowerCase();
      if (key in out) {
        ctx.addIssue({ code: 'custom', message: `${key} is listed twice` });
        return z.NEVER;
      }
      out[key] = value;
    }
    return out;
  });
}
const DOMAIN = DOMAIN_NAME;

const perDay = z.number().int().min(1).max(100_000_000);
const isoDate = z.iso.date({ message: 'must be a date, YYYY-MM-DD' });
/**
 * One domain's calendar limits: per day a fixed `perDay`, a warm-up ramp, or a ramp up to
 * `perDay`; per calendar month `perMonth` (Mailgun's monthly limit); both in `timeZone`.
 */
export const dailyLimitSettings = z
  .object({
    timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin').optional(),
    perDay: perDay.optional(),
    perMonth: z.number().int().min(1).max(10_000_000_000).optional(),
    warmUp: z
      .union([
        z.object({ from: isoDate, days: z.array(perDay).min(1) }).strict(),
        z.object({ from: isoDate, start: perDay, factor: z.number().min(1).max(10) }).strict(),
      ])
      .optional(),
  })
  .strict()
  .refine((d) => d.perDay !== undefined || d.warmUp !== undefined || d.perMonth !== undefined, {
    message: 'give perDay, warmUp, perMonth or several',
  });
export type DailyLimitSettings = z.infer<typeof dailyLimitSettings>;

/** `{"mg.a.com": {"perDay": 100000, "perMonth": 2000000, "timeZone": "UTC", "warmUp": {…}}}`. */
const dailyLimits = z.string().transform((s, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON: {"mg.example.com": {"perDay": 100000}}' });
    return z.NEVER;
  }
  const result = z.record(z.string().regex(DOMAIN, 'keys must be domain names'), dailyLimitSettings).safeParse(parsed);
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: `${issue.path.join('.')}: ${issue.message}` });
    return z.NEVER;
  }
  return Object.fromEntries(Object.entries(result.data).map(([d, v]) => [d.toLowerCase(), v]));
});
const CUSTOMER = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** Each variable: its schema and its default (applied before validation, as a string). */
/** 20 MB a second per token: a 200 MB audience (the most one may be) in ten seconds (`UPLOAD_BYTES_PER_SECOND`). */
export const DEFAULT_UPLOAD_BYTES_PER_SECOND = 20_000_000;
/** Expensive requests one API token may have under way at once (`EXPENSIVE_REQUESTS_AT_ONCE`). */
export const DEFAULT_EXPENSIVE_REQUESTS_AT_ONCE = 4;

const variables = {
  BATON_STAGE: { schema: z.enum(STAGES, { message: `must be one of ${STAGES.join(', ')}` }), default: 'dev' },
  PER_MINUTE_MAX: { schema: wholeNumber(1, 1_000_000), default: '6000' },
  GOVERNOR_WINDOW_MS: { schema: wholeNumber(1_000, 3_600_000), default: '60000' },
  GOVERNOR_SIGMA: { schema: decimal(0, 10), default: '2' },
  GOVERNOR_MARGIN_MS: { schema: wholeNumber(0, 60_000), default: '150' },
  GOVERNOR_SLICE_MS: { schema: wholeNumber(10, 60_000), default: '200' },
  LEASE_HORIZON_MS: { schema: wholeNumber(100, 600_000), default: '5000' },
  /** Domains with their own caps, `mg.a.com=6000,news.a.com=1200`; default: MAILGUN_DOMAIN at PER_MINUTE_MAX. */
  SENDING_DOMAINS: { schema: namedNumbers(DOMAIN, 'domain', 1, 1_000_000).optional(), default: undefined },
  /** Per sending domain, a limit per calendar day (with an optional warm-up ramp) and per calendar month (JSON). */
  DAILY_LIMITS: { schema: dailyLimits.optional(), default: undefined },
  CUSTOMER_WEIGHTS: { schema: namedNumbers(CUSTOMER, 'customer', 0.01, 1_000).optional(), default: undefined },
  CUSTOMER_PER_MINUTE_MAX: { schema: namedNumbers(CUSTOMER, 'customer', 1, 1_000_000).optional(), default: undefined },
  MAX_WORKERS: { schema: wholeNumber(1, 1_000), default: '4' },
  BATCH_SIZE: { schema: wholeNumber(1, 100_000), default: '1000' },
  TICK_MS: { schema: wholeNumber(10, 60_000), default: '1000' },
  WORKER_TIME_BUDGET_MS: { schema: wholeNumber(1_000, 900_000), default: '120000' },
  /**
   * How long after a send went in doubt the provider's records are believed when they show no
   * message (they are eventually consistent): then the recipient is `notAccepted`. Keep it above
   * WORKER_TIME_BUDGET_MS, so no worker of the in-doubt attempt can still be calling.
   */
  SETTLE_AFTER_MS: { schema: wholeNumber(0, 86_400_000), default: '900000' },
  MAILGUN_URL: { schema: httpUrl.optional(), default: undefined },
  MAILGUN_DOMAIN: { schema: z.string().regex(DOMAIN, { message: 'must be a domain name' }), default: 'mg.example.com' },
  MAILGUN_API_KEY: { schema: z.string().min(1).optional(), default: undefined },
  QA_ALLOWED_RECIPIENTS: { schema: allowList.optional(), default: undefined },
  PORT: { schema: wholeNumber(0, 65_535), default: '8080' },
  BATON_DATA_DIR: { schema: z.string().min(1), default: '.baton' },
  /**
   * The one-machine store: `lmdb` (one database file, the default) or `fs` (one file per object).
   * Unset, a data folder that already holds an `objects/` folder keeps the filesystem store.
   */
  /**
   * Hours after a campaign finished that its stubs and rendered messages are kept on one machine
   * (0: deleted at the next sweep). The ledger stays. On AWS the buckets' lifecycle rules expire them.
   */
  BATON_RETENTION_HOURS: { schema: wholeNumber(0, 87_600), default: '168' },
  BATON_STORE: { schema: z.enum(['lmdb', 'fs'], { message: 'must be lmdb or fs' }).optional(), default: undefined },
  BATON_PUBLIC_URL: { schema: httpUrl.optional(), default: undefined },
  BATON_API_TOKEN: { schema: secret.optional(), default: undefined },
  BATON_LEASE_TOKEN: { schema: secret.optional(), default: undefined },
  BATON_UNSUBSCRIBE_SECRET: { schema: secret.optional(), default: undefined },
  /**
   * One machine only: a file to which every provider call is journalled as it starts and as it
   * answers, written synchronously (it outlives a kill -9). The fault suite counts the calls in
   * flight at a crash from it. Unset: no journal.
   */
  BATON_CALL_JOURNAL: { schema: z.string().min(1).optional(), default: undefined },
  /** Mailgun's HTTP webhook signing key: verifies `POST /webhooks/mailgun`. Locally a dev secret the sink signs with. */
  MAILGUN_WEBHOOK_SIGNING_KEY: { schema: secret.optional(), default: undefined },
  /** A webhook whose signed timestamp is further than this from the conductor's clock is refused (replays are remembered this long). */
  MAILGUN_WEBHOOK_MAX_AGE_MS: { schema: wholeNumber(10_000, 86_400_000), default: '600000' },
  LOG_LEVEL: { schema: logLevel, default: 'info' },
  /**
   * How fast one API token's audience uploads (a multipart create's file part, a raw text/csv
   * upload) are read, in bytes a second, all its uploads together: faster senders are slowed, not
   * refused. 0: no bound. Keeps one caller's uploads from taking the conductor's event loop.
   */
  UPLOAD_BYTES_PER_SECOND: { schema: wholeNumber(0, 10_000_000_000), default: String(DEFAULT_UPLOAD_BYTES_PER_SECOND) },
  /**
   * Expensive requests (creates, uploads, previews, test sends, a draft's check or preview) one API
   * token may have under way at once; one more is answered 429 with Retry-After. Each holds a body,
   * a render thread or the store for a while: the bound keeps one caller from taking them all.
   */
  EXPENSIVE_REQUESTS_AT_ONCE: { schema: wholeNumber(1, 1_000), default: String(DEFAULT_EXPENSIVE_REQUESTS_AT_ONCE) },
} as const;

type Variables = typeof variables;
export type VariableName = keyof Variables;
export type Config = { readonly [K in VariableName]: z.output<Variables[K]['schema']> };

/**
 * Validates the whole environment. Stage rules on top of each variable's own:
 * - `qa` needs `QA_ALLOWED_RECIPIENTS` (fail closed: no list, no QA);
 * - `qa` and `prod` need real secrets for the APIs and, with a real provider, its key.
 */
export function loadConfig(env: Env = process.env): Config {
  const issues: InputIssue[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(variables) as [VariableName, Variables[VariableName]][]) {
    const raw = env[name] === undefined || env[name] === '' ? spec.default : env[name];
    const parsed = (spec.schema as z.ZodType).safeParse(raw);
    if (parsed.success) {
      out[name] = parsed.data;
    } else {
      const shown = raw === undefined ? 'unset' : `got ${JSON.stringify(/TOKEN|KEY|SECRET/.test(name) ? '…' : raw)}`;
      issues.push({ where: name, message: `${parsed.error.issues[0]?.message ?? 'is invalid'} (${shown})` });
    }
  }
  const stage = out.BATON_STAGE as Stage | undefined;
  if (stage === 'qa' && out.QA_ALLOWED_RECIPIENTS === undefined && !issues.some((i) => i.where === 'QA_ALLOWED_RECIPIENTS')) {
    issues.push({ where: 'QA_ALLOWED_RECIPIENTS', message: 'is required when BATON_STAGE=qa (QA may only email allowed addresses)' });
  }
  if (stage === 'qa' || stage === 'prod') {
    for (const name of ['BATON_API_TOKEN', 'BATON_LEASE_TOKEN', 'BATON_UNSUBSCRIBE_SECRET'] as const) {
      if (out[name] === undefined && !issues.some((i) => i.where === name)) {
        issues.push({ where: name, message: `is required when BATON_STAGE=${stage}` });
      }
    }
  }
  if (out.MAILGUN_URL !== undefined && out.MAILGUN_API_KEY === undefined && !issues.some((i) => i.where === 'MAILGUN_API_KEY')) {
    issues.push({ where: 'MAILGUN_API_KEY', message: 'is required when MAILGUN_URL is set' });
  }
  if (out.BATON_API_TOKEN !== undefined && out.BATON_API_TOKEN === out.BATON_LEASE_TOKEN) {
    issues.push({ where: 'BATON_LEASE_TOKEN', message: 'must differ from BATON_API_TOKEN (workers get their own credentials)' });
  }
  checkGovernor(out, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze(out) as Config;
}

/** Tuning variables that are fine alone can still be wrong together. */
function checkGovernor(out: Record<string, unknown>, issues: InputIssue[]): void {
  const bad = (name: string) => issues.some((i) => i.where === name);
  const window = out.GOVERNOR_WINDOW_MS as number;
  const slice = out.GOVERNOR_SLICE_MS as number;
  const margin = out.GOVERNOR_MARGIN_MS as number;
  if (!bad('GOVERNOR_WINDOW_MS') && !bad('GOVERNOR_SLICE_MS') && slice * 4 > window) {
    issues.push({
      where: 'GOVERNOR_SLICE_MS',
      message: `must be at most a quarter of GOVERNOR_WINDOW_MS (${window}) so sending is paced within the window (got ${slice})`,
    });
  }
  if (!bad('GOVERNOR_WINDOW_MS') && !bad('GOVERNOR_MARGIN_MS') && margin * 4 > window) {
    issues.push({ where: 'GOVERNOR_MARGIN_MS', message: `must be at most a quarter of GOVERNOR_WINDOW_MS (${window}) (got ${margin})` });
  }
  if (!bad('LEASE_HORIZON_MS') && !bad('GOVERNOR_SLICE_MS') && (out.LEASE_HORIZON_MS as number) < slice) {
    issues.push({ where: 'LEASE_HORIZON_MS', message: `must be at least GOVERNOR_SLICE_MS (${slice})` });
  }
  const daily = out.DAILY_LIMITS as Record<string, unknown> | undefined;
  if (daily && !bad('DAILY_LIMITS') && !bad('SENDING_DOMAINS') && !bad('MAILGUN_DOMAIN')) {
    const known = sendingDomains(out as Pick<Config, 'SENDING_DOMAINS' | 'MAILGUN_DOMAIN' | 'PER_MINUTE_MAX'>).map((d) => d.domain);
    for (const domain of Object.keys(daily))
      if (!known.includes(domain))
        issues.push({ where: 'DAILY_LIMITS', message: `${domain} is not a sending domain (${known.join(', ')})` });
  }
}

/** The sending domains and their caps: SENDING_DOMAINS, or MAILGUN_DOMAIN at PER_MINUTE_MAX. */
export function sendingDomains(
  config: Pick<Config, 'SENDING_DOMAINS' | 'MAILGUN_DOMAIN' | 'PER_MINUTE_MAX'> & Partial<Pick<Config, 'DAILY_LIMITS'>>,
): { domain: string; perWindowMax: number; daily?: DailyLimitSettings }[] {
  const listed = Object.entries(config.SENDING_DOMAINS ?? {}).map(([domain, cap]) => ({ domain, perWindowMax: Math.floor(cap) }));
  const domains = listed.length > 0 ? listed : [{ domain: config.MAILGUN_DOMAIN.toLowerCase(), perWindowMax: config.PER_MINUTE_MAX }];
  const daily = config.DAILY_LIMITS ?? {};
  return domains.map((d) => (daily[d.domain] ? { ...d, daily: daily[d.domain] } : d));
}

/** Whether `address` may be emailed in QA: an exact entry or its domain (`@example.com`). */
export function isAllowedRecipient(allowList: readonly string[], address: string): boolean {
  const a = address.trim().toLowerCase();
  // Fail closed: only one bare address qualifies (no lists, display names or extra `@`s that
  // could smuggle a second recipient past a domain entry).
  if (!/^[^@\s,;<>()"']+@[^@\s,;<>()"']+$/.test(a)) return false;
  return allowList.includes(a) || allowList.includes(a.slice(a.indexOf('@')));
}
