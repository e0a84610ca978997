import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Structured logs with a stable `event` name. A log line never carries an email address, a
 * message body or a secret: fields with such names are dropped to `[redacted]`, and anything
 * that looks like an address, in any string, becomes `[email]`.
 */

const SENSITIVE_KEYS = new Set([
  'to', 'from', 'email', 'address', 'recipient', 'html', 'text', 'body', 'mjml', 'subject', 'fields',
  'apikey', 'api_key', 'token', 'authorization', 'password', 'secret', 'key_secret', 'audiencecsv',
]);
const EMAIL = /[^\s<>()[\]"',;:@]+@[^\s<>()[\]"',;:@]+\.[a-z]{2,}/gi;

export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(EMAIL, '[email]');
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (value instanceof Error) {
    return { type: value.name, message: scrub(value.message, depth + 1), code: (value as { code?: unknown }).code };
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SENSITIVE_KEYS.has(k.toLowerCase()) ? '[redacted]' : scrub(v, depth + 1);
  }
  return out;
}

export interface LoggerSettings {
  level?: string;
  name?: string;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: pino.DestinationStream;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: settings.name ? { service: settings.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => scrub(obj) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        const cleaned = args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>;
        return method.apply(this, cleaned);
      },
    },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A logger that writes nothing: the default for cores under test. */
export const silentLogger: Logger = pino({ level: 'silent' });
