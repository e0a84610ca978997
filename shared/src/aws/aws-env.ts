import { z } from 'zod';
import { STAGES } from '../api-types';
import { DOMAIN_NAME } from '../domain-name';
import { allowList, httpUrl, logLevel, wholeNumber } from '../env-schemas';
import { ConfigError, type InputIssue } from '../errors';
import type { Buckets } from '../keys';

/**
 * The environment of the AWS entry points (the three Lambdas and the Fargate conductor), read
 * once in module scope. Each entry point asks only for the variables it uses, so a Lambda is
 * never refused for a setting that belongs to another. As in `config.ts`: every bad variable is
 * reported at once, one line each, with its name, what was expected and what was got; an empty
 * variable counts as unset; a value under a name that looks like a credential is never echoed.
 *
 * Two groups:
 * - AWS only: bucket names, the topic, the worker function, the conductor's URL for workers and
 *   the ARNs of secrets (values stay in Secrets Manager; the Lambdas read them at first use).
 * - Settings the Lambdas share with the conductor (stage, QA list, Mailgun, public URL, …),
 *   validated as `config.ts` validates them. The Lambdas cannot call `loadConfig`: in qa and
 *   prod it requires the conductor's API token, which no Lambda should hold. On AWS the stage,
 *   the Mailgun domain and URL have no default: a function never guesses where it runs.
 */

type Env = Record<string, string | undefined>;

/** S3's rules for a bucket name (the part Baton can meet: no dots next to each other or dashes). */
const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'must be an S3 bucket name (3-63 lower-case letters, digits, dots, dashes)' })
  .refine((b) => !b.includes('..'), { message: 'must be an S3 bucket name (no two dots in a row)' });

const PARTITION = 'arn:aws[a-z-]*';
const REGION = '[a-z]{2}(-[a-z]+)+-\\d';
const ACCOUNT = '\\d{12}';

const topicArn = z.string().regex(new RegExp(`^${PARTITION}:sns:${REGION}:${ACCOUNT}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$`), {
  message: 'must be an SNS topic ARN (arn:aws:sns:region:account:name)',
});

/** A function name, or its ARN, either with an optional version or alias. */
const functionName = z
  .string()
  .regex(new RegExp(`^(${PARTITION}:lambda:${REGION}:${ACCOUNT}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$`), {
    message: 'must be a Lambda function name or ARN',
  });

const secretArn = z.string().regex(new RegExp(`^${PARTITION}:secretsmanager:${REGION}:${ACCOUNT}:secret:[A-Za-z0-9/_+=.@-]{1,512}$`), {
  message: 'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:region:account:secret:name)',
});

/** Each variable: its schema, and its default when it has one (a string, validated like a given value). */
const variables = {
  // AWS only
  BATON_CAMPAIGNS_BUCKET: { schema: bucketName },
  BATON_STUBS_BUCKET: { schema: bucketName },
  BATON_RENDERED_BUCKET: { schema: bucketName },
  BATON_TOPIC_ARN: { schema: topicArn },
  BATON_WORKER_FUNCTION: { schema: functionName },
  /** The lease API's base URL, as workers reach the conductor. */
  BATON_CONDUCTOR_URL: { schema: httpUrl },
  MAILGUN_API_KEY_SECRET_ARN: { schema: secretArn },
  BATON_LEASE_TOKEN_SECRET_ARN: { schema: secretArn },
  BATON_UNSUBSCRIBE_SECRET_ARN: { schema: secretArn },
  BATON_API_TOKEN_SECRET_ARN: { schema: secretArn },
  /** How long the conductor waits for leases out to check in on SIGTERM; keep it under ECS's stopTimeout. */
  BATON_DRAIN_MS: { schema: wholeNumber(0, 120_000), default: '25000' },
  // Shared with config.ts
  BATON_STAGE: { schema: z.enum(STAGES, { message: `must be one of ${STAGES.join(', ')}` }) },
  QA_ALLOWED_RECIPIENTS: { schema: allowList.optional() },
  WORKER_TIME_BUDGET_MS: { schema: wholeNumber(1_000, 900_000), default: '120000' },
  MAILGUN_URL: { schema: httpUrl },
  MAILGUN_DOMAIN: { schema: z.string().regex(DOMAIN_NAME, { message: 'must be a domain name' }) },
  BATON_PUBLIC_URL: { schema: httpUrl },
  LOG_LEVEL: { schema: logLevel, default: 'info' },
} as const satisfies Record<string, { schema: z.ZodType; default?: string }>;

type Variables = typeof variables;
export type AwsVariableName = keyof Variables;
export type AwsEnv<N extends AwsVariableName> = { readonly [K in N]: z.output<Variables[K]['schema']> };

export const AWS_VARIABLE_NAMES = Object.keys(variables) as AwsVariableName[];

/** Names whose values may be credentials (or a credential pasted by mistake): never echoed. */
const HIDDEN = /TOKEN|KEY|SECRET/;

/**
 * Validates `names` in `env` and returns them typed and frozen; throws `ConfigError` listing
 * every bad one. Cross-variable rule: with `BATON_STAGE=qa`, `QA_ALLOWED_RECIPIENTS` is required
 * whenever both were asked for (QA fails closed).
 */
export function loadAwsEnv<const N extends AwsVariableName>(names: readonly N[], env: Env = process.env): AwsEnv<N> {
  const issues: InputIssue[] = [];
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const spec: { schema: z.ZodType; default?: string } = variables[name];
    const given = env[name] === undefined || env[name] === '' ? undefined : env[name];
    const raw = given ?? spec.default;
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) {
      out[name] = parsed.data;
    } else if (raw === undefined) {
      issues.push({ where: name, message: 'is required (unset)' });
    } else {
      const shown = HIDDEN.test(name) ? '…' : raw;
      issues.push({ where: name, message: `${parsed.error.issues[0]?.message ?? 'is invalid'} (got ${JSON.stringify(shown)})` });
    }
  }
  const asked = new Set<string>(names);
  if (
    asked.has('QA_ALLOWED_RECIPIENTS') &&
    out.BATON_STAGE === 'qa' &&
    out.QA_ALLOWED_RECIPIENTS === undefined &&
    !issues.some((i) => i.where === 'QA_ALLOWED_RECIPIENTS')
  ) {
    issues.push({ where: 'QA_ALLOWED_RECIPIENTS', message: 'is required when BATON_STAGE=qa (QA may only email allowed addresses)' });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze(out) as AwsEnv<N>;
}

type BucketVariable = 'BATON_CAMPAIGNS_BUCKET' | 'BATON_STUBS_BUCKET' | 'BATON_RENDERED_BUCKET';

/**
 * The `Buckets` of an entry point from the bucket variables it was given. A function is given
 * (and granted) only the buckets it uses; the others get a name S3 refuses, which names the
 * missing variable, so a use nobody planned fails loudly instead of reaching another bucket.
 */
export function bucketsFromEnv(env: Partial<Record<BucketVariable, string>>): Buckets {
  const pick = (name: BucketVariable) => env[name] ?? `not-configured:${name}`;
  return { campaigns: pick('BATON_CAMPAIGNS_BUCKET'), stubs: pick('BATON_STUBS_BUCKET'), rendered: pick('BATON_RENDERED_BUCKET') };
}
