import { z } from 'zod';

/**
 * Validators of environment variables, shared by `config.ts` (the conductor and the local
 * composition) and `aws/aws-env.ts` (the AWS entry points), so a variable both read is checked
 * the same way in both. Each takes the raw string.
 */

export function wholeNumber(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, { message: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );
}

export function decimal(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+(\.\d+)?$/, { message: `must be a number from ${min} to ${max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );
}

export const httpUrl = z
  .string()
  .url({ message: 'must be an http(s) URL' })
  .refine((u) => /^https?:\/\//.test(u), { message: 'must be an http(s) URL' })
  .transform((u) => u.replace(/\/+$/, ''));

/** `a@x.com, @example.com`: exact addresses or whole domains (a leading `@`). */
export const allowList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((e) => e.trim().toLowerCase())
      .filter((e) => e.length > 0),
  )
  .pipe(
    z.array(
      z.string().regex(/^([^@\s,]+@[^@\s,]+\.[^@\s,]+|@[^@\s,]+\.[^@\s,]+)$/, {
        message: 'entries must be addresses (a@example.com) or domains (@example.com), comma-separated',
      }),
    ),
  );

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const logLevel = z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` });
