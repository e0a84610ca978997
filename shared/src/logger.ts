import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Structured logs with a stable `event` name. A log line never carries an email address, a
 * message body or a secret: fields with such names (and any name containing token, secret,
 * password, api key, authorization or credential) are dropped to `[redacted]`, at any depth and in
 * child bindings; anything that looks like an address, anywhere in the line, becomes `[email]`.
 * Objects nested deeper than seven levels are written as `[truncated]`.
 */

const SENSITIVE_KEYS = new Set([
  'to',
  'from',
  'email',
  'address',
  'recipient',
  'html',
  'text',
  'body',
  'mjml',
  'subject',
  'fields',
  'apikey',
  'api_key',
  'token',
  'authorization',
  'password',
  'secret',
  'key_secret',
  'audiencecsv',
]);
/** Names that hold a credential whatever their prefix: `leaseToken`, `BATON_API_TOKEN`, `MAILGUN_API_KEY`. */
const SECRET_NAME = /token|secret|password|api_?key|authorization|credential/i;
/**
 * An address anywhere in a string. The local part is a whole run of RFC 5322 atext (letters,
 * digits and ! # $ % & ' * + - / = ? ^ _ ` { | } ~), dots, non-ASCII letters and backslashes
 * (so a JSON escape before an address goes with it, not half of it). The lookbehind makes the
 * match start only where such a run starts, so it is never scanned twice (linear time, even
 * for `a'a'a'…`); apostrophes that open the run are kept (`'alice@example.com'` keeps its
 * quotes, `o'brien@example.com` goes whole). The domain stops before quotes, brackets and
 * punctuation.
 */
const EMAIL =
  /(?<![\w!#$%&'*+/=?^`{|}~.\\\u0080-\uFFFF-])('*)[\w!#$%&*+/=?^`{|}~.\\\u0080-\uFFFF-][\w!#$%&'*+/=?^`{|}~.\\\u0080-\uFFFF-]*@[^\s<>()[\]"',;:@]+\.[a-z]{2,}/gi;

function maskEmails(s: string): string {
  return s.replace(EMAIL, (_, quotes: string) => `${quotes}[email]`);
}

function isSensitiveKey(k: string): boolean {
  return SENSITIVE_KEYS.has(k.toLowerCase()) || SECRET_NAME.test(k);
}

export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskEmails(value);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  // Deeper than this is not looked at, so it is not written either.
  if (depth > 6) return '[truncated]';
  if (value instanceof Error) {
    return { type: value.name, message: scrub(value.message, depth + 1), code: (value as { code?: unknown }).code };
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSensitiveKey(k) ? '[redacted]' : scrub(v, depth + 1);
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
    // `scrub` has already turned errors into { type, message, code }; pino's own error
    // serializer would take that for an error of type "Object".
    serializers: { err: (err: unknown) => err },
    hooks: {
      logMethod(args, method) {
        // The first object goes through `formatters.log`; the message and its interpolation values are scrubbed here.
        const cleaned = args.map((a, i) => (i === 0 && typeof a === 'object' ? a : scrub(a))) as Parameters<typeof method>;
        return method.apply(this, cleaned);
      },
      // Last line of defence: pino takes `msg` from an error's own message, unscrubbed.
      streamWrite: (line) => maskEmails(line),
    },
  };
  const logger = settings.destination ? pino(options, settings.destination) : pino(options);
  // pino applies no formatter to a child's bindings, so they are scrubbed on the way in;
  // children inherit this `child`, so grandchildren are covered too.
  const child = logger.child;
  logger.child = function scrubbedChild(this: Logger, bindings, childOptions) {
    return Reflect.apply(child, this, [scrub(bindings), childOptions]);
  } as Logger['child'];
  return logger;
}

/** A logger that writes nothing: the default for cores under test. */
export const silentLogger: Logger = pino({ level: 'silent' });
