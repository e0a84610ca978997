import { ConfigError, DOMAIN_NAME, isDomainName, loadConfig } from '@baton/shared';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/**
 * One typed configuration per stage: the stage's defaults, overridden key by key by whatever
 * `bin/app.ts` read from the CDK context. Everything the constructs need comes from here, so a
 * deployed value can always be traced to a default or to an override.
 *
 * Values are checked at synth for what the infrastructure itself depends on (types, URLs,
 * domains, and limits such as Lambda's 15 minutes). The exact ranges of the conductor's tuning
 * are checked again by the services when they start (shared/src/config.ts): that schema stays
 * the one authority, so the two cannot disagree about what is valid.
 */

export const STAGES = ['qa', 'prod'] as const;
export type Stage = (typeof STAGES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Lambda's hard limit on a function's run time. */
export const LAMBDA_MAX_TIMEOUT_MS = 900_000;
/**
 * The worker's timeout is its time budget plus this much: the handler stops taking keys early
 * (LAMBDA_RESERVE_MS in the worker) and still has to report to the conductor after its last send.
 */
export const WORKER_TIMEOUT_HEADROOM_MS = 30_000;

/**
 * The conductor's tuning, keyed by the environment variable each value becomes in the task
 * (and, for the worker's share, in the worker). Optional entries are set only when configured,
 * so the service's own default applies otherwise.
 */
export interface ConductorTuning {
  readonly PER_MINUTE_MAX: number;
  readonly GOVERNOR_WINDOW_MS: number;
  // The governor's finer settings: the conductor's defaults unless configured.
  readonly GOVERNOR_MARGIN_MS?: number;
  readonly GOVERNOR_SLICE_MS?: number;
  readonly GOVERNOR_SIGMA?: number;
  readonly LEASE_HORIZON_MS?: number;
  readonly MAX_WORKERS: number;
  readonly BATCH_SIZE: number;
  readonly TICK_MS: number;
  readonly WORKER_TIME_BUDGET_MS: number;
  readonly MAILGUN_DOMAIN: string;
  readonly MAILGUN_URL: string;
  /** Domains with their own caps (`mg.a.com=6000,news.a.com=1200`), one governor each; unset: MAILGUN_DOMAIN at PER_MINUTE_MAX. */
  readonly SENDING_DOMAINS?: string;
  /** Fair-share weights per customer (`acme=3,globex=1`). */
  readonly CUSTOMER_WEIGHTS?: string;
  /** A customer's own cap per window, over all domains (`acme=3000`). */
  readonly CUSTOMER_PER_MINUTE_MAX?: string;
  /** qa only: the worker refuses every other address. */
  readonly QA_ALLOWED_RECIPIENTS?: string;
}

export interface ConsoleExposure {
  /** Internet-facing over HTTPS (in addition to the internal load balancer the workers use). */
  readonly expose: boolean;
  readonly certificateArn?: string;
  /** The address in unsubscribe links; defaults to the load balancer's own name. */
  readonly publicUrl?: string;
  /** A network (VPN, peered VPC) allowed to reach the console on the internal load balancer. */
  readonly internalCidr?: string;
}

export interface StageConfig {
  readonly stage: Stage;
  readonly logLevel: LogLevel;
  readonly tuning: ConductorTuning;
  readonly conductor: { readonly cpu: number; readonly memoryMiB: number };
  readonly console: ConsoleExposure;
  readonly natGateways: number;
  readonly logRetention: RetentionDays;
  /** Stubs and rendered messages hold personal data and are re-creatable: they expire. */
  readonly expiryDays: { readonly stubs: number; readonly rendered: number };
  /** Where alarms are emailed, if anywhere (they always go to the stage's alarm topic). */
  readonly alarmEmail?: string;
  readonly terminationProtection: boolean;
}

type Defaults = Omit<StageConfig, 'stage' | 'console' | 'alarmEmail'>;

/**
 * Set explicitly in every stage: what the infrastructure itself is sized by (the window bounds
 * the conductor's drain and a lease's age, the budget the worker's timeout, MAX_WORKERS its
 * concurrency), what differs between stages, and what has no sensible default on AWS.
 */
const COMMON_TUNING = {
  GOVERNOR_WINDOW_MS: 60_000,
  BATCH_SIZE: 1000,
  TICK_MS: 1000,
  WORKER_TIME_BUDGET_MS: 120_000,
  // Placeholder: the real sending domain is set per stage (README, "Tuning").
  MAILGUN_DOMAIN: 'mg.example.com',
  MAILGUN_URL: 'https://api.mailgun.net',
} as const;

const DEFAULTS: Record<Stage, Defaults> = {
  // QA proves the pipeline, not the throughput: a small cap and few workers.
  qa: {
    logLevel: 'debug',
    tuning: { ...COMMON_TUNING, PER_MINUTE_MAX: 300, MAX_WORKERS: 2 },
    conductor: { cpu: 512, memoryMiB: 1024 },
    natGateways: 1,
    logRetention: RetentionDays.ONE_MONTH,
    expiryDays: { stubs: 7, rendered: 7 },
    terminationProtection: false,
  },
  prod: {
    logLevel: 'info',
    tuning: { ...COMMON_TUNING, PER_MINUTE_MAX: 6000, MAX_WORKERS: 8 },
    // The conductor keeps each running campaign's recipient ids in memory.
    conductor: { cpu: 1024, memoryMiB: 2048 },
    // One NAT gateway per AZ: losing one AZ does not cut workers off from the provider.
    natGateways: 2,
    logRetention: RetentionDays.SIX_MONTHS,
    expiryDays: { stubs: 30, rendered: 30 },
    terminationProtection: true,
  },
};

// ---- overrides ------------------------------------------------------------------------------

/**
 * Context values by key: strings from `-c key=value`, or any JSON value from cdk.json. Any key
 * may appear (a typo included), which is why each one is checked against OVERRIDE_KEYS.
 */
export type StageOverrides = Readonly<Record<string, unknown>>;

type Parse<T> = (raw: unknown) => T;

class Invalid extends Error {}

function text(raw: unknown): string {
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  if (typeof raw !== 'string') throw new Invalid('must be a string');
  return raw.trim();
}

function wholeNumber(min: number, max: number): Parse<number> {
  return (raw) => {
    const s = text(raw);
    if (!/^\d+$/.test(s)) throw new Invalid(`must be a whole number from ${min} to ${max}`);
    const n = Number(s);
    if (n < min || n > max) throw new Invalid(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function decimal(min: number, max: number): Parse<number> {
  return (raw) => {
    const s = text(raw);
    const n = Number(s);
    if (!/^\d+(\.\d+)?$/.test(s) || n < min || n > max) throw new Invalid(`must be a number from ${min} to ${max}`);
    return n;
  };
}

const domain: Parse<string> = (raw) => {
  const s = text(raw).toLowerCase();
  if (!isDomainName(s)) throw new Invalid('must be a domain name (mg.example.com)');
  return s;
};

/**
 * `name=number, name=number` lists, normalised (the conductor's `loadConfig`, run at synth, has
 * the last word on their ranges).
 */
function namedNumbers(name: RegExp, example: string): Parse<string> {
  return (raw) => {
    const entries = text(raw)
      .split(',')
      .map((e) => e.trim().toLowerCase())
      .filter((e) => e.length > 0);
    const parsed = entries.map((e) => /^([^=\s]+)\s*=\s*(\d+(?:\.\d+)?)$/.exec(e));
    if (entries.length === 0 || !parsed.every((m) => m !== null && name.test(m[1]!) && Number(m[2]) > 0)) {
      throw new Invalid(`must be name=number entries, comma-separated (${example})`);
    }
    return parsed.map((m) => `${m![1]}=${m![2]}`).join(',');
  };
}

/** Each sending domain with its own cap per window. */
const domainCaps = namedNumbers(DOMAIN_NAME, 'mg.example.com=6000,news.example.com=1200');
/** Customers' weights or caps. */
const customerNumbers = namedNumbers(/^[a-z0-9][a-z0-9-]{1,62}$/, 'acme=3,globex=1');

/** https only: these addresses carry API keys or unsubscribe tokens. */
const httpsUrl: Parse<string> = (raw) => {
  const s = text(raw);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Invalid('must be an https URL');
  }
  if (url.protocol !== 'https:' || url.search !== '' || url.hash !== '')
    throw new Invalid('must be an https URL without query or fragment');
  return s.replace(/\/+$/, '');
};

/** The services' rule (shared/src/config.ts): exact addresses or whole domains (a leading `@`). */
const allowList: Parse<string> = (raw) => {
  const entries = text(raw)
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e.length > 0);
  const entry = /^([^@\s,]+@[^@\s,]+\.[^@\s,]+|@[^@\s,]+\.[^@\s,]+)$/;
  if (entries.length === 0 || !entries.every((e) => entry.test(e))) {
    throw new Invalid('must be addresses (a@example.com) or domains (@example.com), comma-separated');
  }
  return entries.join(',');
};

const flag: Parse<boolean> = (raw) => {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new Invalid('must be true or false');
};

const certificateArn: Parse<string> = (raw) => {
  const s = text(raw);
  if (!/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/.test(s)) throw new Invalid('must be an ACM certificate ARN');
  return s;
};

const cidr: Parse<string> = (raw) => {
  const s = text(raw);
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) throw new Invalid('must be an IPv4 CIDR block (10.8.0.0/16)');
  return s;
};

const email: Parse<string> = (raw) => {
  const s = text(raw);
  if (!/^[^@\s,]+@[^@\s,]+\.[^@\s,]+$/.test(s)) throw new Invalid('must be an email address');
  return s;
};

const logLevel: Parse<LogLevel> = (raw) => {
  const s = text(raw);
  if (!(LOG_LEVELS as readonly string[]).includes(s)) throw new Invalid(`must be one of ${LOG_LEVELS.join(', ')}`);
  return s as LogLevel;
};

/** Context keys that override a tuning value, and the variable each one sets. */
const TUNING_KEYS = {
  perMinuteMax: { variable: 'PER_MINUTE_MAX', parse: wholeNumber(1, 1_000_000) },
  governorWindowMs: { variable: 'GOVERNOR_WINDOW_MS', parse: wholeNumber(1_000, 3_600_000) },
  governorMarginMs: { variable: 'GOVERNOR_MARGIN_MS', parse: wholeNumber(0, 60_000) },
  governorSliceMs: { variable: 'GOVERNOR_SLICE_MS', parse: wholeNumber(1, 3_600_000) },
  governorSigma: { variable: 'GOVERNOR_SIGMA', parse: decimal(0, 10) },
  leaseHorizonMs: { variable: 'LEASE_HORIZON_MS', parse: wholeNumber(100, 600_000) },
  maxWorkers: { variable: 'MAX_WORKERS', parse: wholeNumber(1, 1_000) },
  batchSize: { variable: 'BATCH_SIZE', parse: wholeNumber(1, 100_000) },
  tickMs: { variable: 'TICK_MS', parse: wholeNumber(10, 60_000) },
  workerTimeBudgetMs: { variable: 'WORKER_TIME_BUDGET_MS', parse: wholeNumber(1_000, LAMBDA_MAX_TIMEOUT_MS - WORKER_TIMEOUT_HEADROOM_MS) },
  mailgunDomain: { variable: 'MAILGUN_DOMAIN', parse: domain },
  mailgunUrl: { variable: 'MAILGUN_URL', parse: httpsUrl },
  sendingDomains: { variable: 'SENDING_DOMAINS', parse: domainCaps },
  customerWeights: { variable: 'CUSTOMER_WEIGHTS', parse: customerNumbers },
  customerPerMinuteMax: { variable: 'CUSTOMER_PER_MINUTE_MAX', parse: customerNumbers },
  qaAllowedRecipients: { variable: 'QA_ALLOWED_RECIPIENTS', parse: allowList },
} as const satisfies Record<string, { variable: keyof ConductorTuning; parse: Parse<unknown> }>;

const OTHER_KEYS = {
  logLevel,
  exposeConsole: flag,
  certificateArn,
  publicUrl: httpsUrl,
  consoleCidr: cidr,
  alarmEmail: email,
} as const;

export type OverrideKey = keyof typeof TUNING_KEYS | keyof typeof OTHER_KEYS;

/** Every context key `bin/app.ts` passes on (besides `stage`). */
export const OVERRIDE_KEYS = [...Object.keys(TUNING_KEYS), ...Object.keys(OTHER_KEYS)] as OverrideKey[];

/** Every problem with a stage's configuration, one per line, each naming its context key. */
export class StageConfigError extends Error {
  override readonly name = 'StageConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid Baton stage configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function shown(raw: unknown): string {
  return typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
}

/**
 * The configuration of `stage` with `overrides` applied. Throws a StageConfigError listing every
 * bad or missing value at once.
 */
export function resolveStageConfig(stage: unknown, overrides: StageOverrides = {}): StageConfig {
  if (typeof stage !== 'string' || !(STAGES as readonly string[]).includes(stage)) {
    throw new StageConfigError([
      `stage: must be one of ${STAGES.join(', ')} (${stage === undefined ? 'unset: pass -c stage=qa or -c stage=prod' : `got ${shown(stage)}`})`,
    ]);
  }
  const defaults = DEFAULTS[stage as Stage];
  const problems: string[] = [];
  for (const key of Object.keys(overrides)) {
    // A misspelt key would otherwise be ignored, and its value silently left at the default.
    if (!(OVERRIDE_KEYS as string[]).includes(key)) problems.push(`${key}: is not a setting (known: ${OVERRIDE_KEYS.join(', ')})`);
  }

  function read<T>(key: OverrideKey, parse: Parse<T>): T | undefined {
    const raw = overrides[key];
    if (raw === undefined || raw === null || raw === '') return undefined;
    try {
      return parse(raw);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      problems.push(`${key}: ${err.message} (got ${shown(raw)})`);
      return undefined;
    }
  }

  const tuning: Record<string, unknown> = { ...defaults.tuning };
  for (const [key, { variable, parse }] of Object.entries(TUNING_KEYS)) {
    const value = read(key as OverrideKey, parse as Parse<unknown>);
    if (value !== undefined) tuning[variable] = value;
  }

  if (stage === 'qa' && tuning.QA_ALLOWED_RECIPIENTS === undefined && !problems.some((p) => p.startsWith('qaAllowedRecipients:'))) {
    problems.push(
      'qaAllowedRecipients: is required for the qa stage, so QA can only ever email allowed addresses ' +
        '(pass -c qaAllowedRecipients=qa@example.com,@qa.example.com or set QA_ALLOWED_RECIPIENTS)',
    );
  }
  // Outside qa the worker applies no allow-list: carrying one would only mislead.
  if (stage !== 'qa') delete tuning.QA_ALLOWED_RECIPIENTS;

  const expose = read('exposeConsole', flag) ?? false;
  const certificate = read('certificateArn', certificateArn);
  const publicUrl = read('publicUrl', httpsUrl);
  if (expose && certificate === undefined && !problems.some((p) => p.startsWith('certificateArn:'))) {
    problems.push('certificateArn: is required with exposeConsole=true (the console is exposed over HTTPS only)');
  }
  const internalCidr = read('consoleCidr', cidr);
  const level = read('logLevel', logLevel);
  const alarmEmail = read('alarmEmail', email);

  // The conductor validates its environment at start; a value it would refuse must fail here,
  // at synth, not as a task that crash-loops after the deploy.
  if (problems.length === 0) problems.push(...conductorWouldRefuse(stage as Stage, tuning as unknown as ConductorTuning));
  if (problems.length > 0) throw new StageConfigError(problems);

  return {
    ...defaults,
    stage: stage as Stage,
    logLevel: level ?? defaults.logLevel,
    tuning: tuning as unknown as ConductorTuning,
    console: {
      expose,
      ...(expose && certificate !== undefined ? { certificateArn: certificate } : {}),
      ...(publicUrl !== undefined ? { publicUrl } : {}),
      ...(internalCidr !== undefined ? { internalCidr } : {}),
    },
    ...(alarmEmail !== undefined ? { alarmEmail } : {}),
  };
}

/** What the conductor's own `loadConfig` says of this tuning (the secrets stand in). */
function conductorWouldRefuse(stage: Stage, tuning: ConductorTuning): string[] {
  const standIn = 'synth-time-stand-in-secret-0123456789';
  try {
    loadConfig({
      ...tuningEnvironment(tuning),
      BATON_STAGE: stage,
      BATON_API_TOKEN: standIn,
      BATON_LEASE_TOKEN: `${standIn}-lease`,
      BATON_UNSUBSCRIBE_SECRET: standIn,
      MAILGUN_API_KEY: standIn,
      MAILGUN_WEBHOOK_SIGNING_KEY: standIn,
    });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${contextKeyOf(i.where)}: ${i.message}`);
  }
}

/** The context key that sets an environment variable, for messages in the operator's terms. */
function contextKeyOf(variable: string): string {
  const found = Object.entries(TUNING_KEYS).find(([, spec]) => spec.variable === variable);
  return found ? `${found[0]} (${variable})` : variable;
}

/**
 * The tuning as environment variables (numbers as decimal strings), in a stable order. Unset
 * optional values are left out, so the service's own default applies.
 */
export function tuningEnvironment(tuning: ConductorTuning): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(tuning).sort(([a], [b]) => a.localeCompare(b))) {
    if (value !== undefined) out[name] = String(value);
  }
  return out;
}
