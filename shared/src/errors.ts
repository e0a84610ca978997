/**
 * Baton's error hierarchy. Adapters translate vendor errors into these, so the core decides on
 * `kind` (may it retry? is the outcome known?) and never inspects an SDK's error shape.
 */
export type ErrorKind = 'retryable' | 'permanent' | 'in-doubt';

export abstract class BatonError extends Error {
  abstract readonly kind: ErrorKind;
  /** Stable, machine-readable; logged and shown to operators. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Nothing happened that cannot be tried again: the same call may succeed later. */
export class RetryableError extends BatonError {
  readonly kind = 'retryable' as const;
  /** A wait the remote side asked for, when it said one. */
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(code, message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Trying again gives the same answer: bad input, refused by the provider, not found. */
export class PermanentError extends BatonError {
  readonly kind = 'permanent' as const;
}

/** The request may have taken effect (a timeout after it was sent): never repeat it automatically. */
export class InDoubtError extends BatonError {
  readonly kind = 'in-doubt' as const;
}

/** One problem found in an input: where it is and what is wrong. */
export interface InputIssue {
  /** Where: a variable name, a JSON path (`audienceCsv`), `line 7`, `mjml line 3`. */
  where: string;
  message: string;
}

/** Input that cannot be accepted; carries every problem found, not just the first. */
export class ValidationError extends PermanentError {
  readonly issues: InputIssue[];
  constructor(code: string, issues: InputIssue[], options?: { cause?: unknown }) {
    super(code, issues.map((i) => `${i.where}: ${i.message}`).join('; '), options);
    this.issues = issues;
  }
}

/** A bad environment variable; one line per variable. */
export class ConfigError extends ValidationError {
  constructor(issues: InputIssue[]) {
    super('CONFIG_INVALID', issues);
    this.message = `invalid configuration:\n${issues.map((i) => `  ${i.where}: ${i.message}`).join('\n')}`;
  }
}

/** A conditional create lost: the object was already there. Expected, not a failure. */
export class ObjectExistsError extends PermanentError {
  constructor(bucket: string, key: string) {
    super('OBJECT_EXISTS', `object already exists: ${bucket}/${key}`);
  }
}

/** A body (an upload) over the size it may have; nothing of it was kept. */
export class BodyTooLargeError extends PermanentError {
  constructor(
    readonly limitBytes: number,
    what: string,
  ) {
    super('BODY_TOO_LARGE', `${what} is over its limit of ${limitBytes.toLocaleString('en')} bytes; nothing was stored`);
  }
}

export function isBatonError(err: unknown): err is BatonError {
  return err instanceof BatonError;
}

/** A short description safe for logs and outcome records (no stack, no bodies). */
export function describeError(err: unknown): string {
  if (err instanceof BatonError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
