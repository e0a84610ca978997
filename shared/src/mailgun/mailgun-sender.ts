// mailgun.js is an ES module package with a CommonJS build: take its types as ESM, load the CJS build.
import type MailgunClass from 'mailgun.js' with { 'resolution-mode': 'import' };
import type { MailgunMessageData } from 'mailgun.js/definitions' with { 'resolution-mode': 'import' };
import { InDoubtError, PermanentError, RetryableError, ValidationError, type BatonError, type InputIssue } from '../errors';
import type { OutgoingEmail, Sender } from '../ports';
import { isDomainName } from '../domain-name';
import { MultipartForm } from './multipart-form';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Mailgun = require('mailgun.js') as typeof MailgunClass;

export interface MailgunSenderOptions {
  /** API base, e.g. `https://api.mailgun.net`, `https://api.eu.mailgun.net` or the local sink's URL. */
  url: string;
  /** The sending domain: messages go to `POST /v3/{domain}/messages`. */
  domain: string;
  apiKey: string;
  /** Per request; past it the outcome is in doubt (the provider may have taken the message). */
  timeoutMs: number;
  /** The clock a 420's "try again after" is read against (default the system clock). */
  now?: () => number;
}

/** The subset of an `APIError` from mailgun.js that classification reads. */
interface MailgunApiError {
  type: 'MailgunAPIError';
  status?: number;
  message?: string;
  details?: unknown;
}

const UNSAFE = /[\r\n\0]/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** Network errors where no connection was ever made: the provider cannot have the message. */
const NEVER_CONNECTED = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)\b/;
/** Network errors after the request may have been sent. */
const TIMED_OUT = /\b(ECONNABORTED|ETIMEDOUT|ECONNRESET|EPIPE)\b|socket hang up|timeout of \d+ms exceeded/i;
/** mailgun.js reports a transport failure as status 400 with the error code as its message. */
const TRANSPORT_CODE = /^(E[A-Z_]+|ERR_[A-Z_]+)$/;

/** Mailgun's 420 body: "… recipient limit exceeded, try again after Mon, 25 Aug 2025 07:00:31 UTC". */
const TRY_AGAIN_AFTER = /try again after ([A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} (?:UTC|GMT))/i;

/** When a 420's limit lifts, if its body says so in the form Mailgun uses. */
function limitLiftsAt(body: string): number | undefined {
  const match = TRY_AGAIN_AFTER.exec(body);
  const at = match ? Date.parse(match[1]!) : NaN;
  return Number.isFinite(at) ? at : undefined;
}

/** Sends through Mailgun's HTTP API with mailgun.js and translates its errors into Baton's. */
export function createMailgunSender(options: MailgunSenderOptions): Sender {
  checkMailgunOptions(options);
  // mailgun.js builds each request's form with the constructor it is given (`form-data`'s, or one like it).
  const client = new Mailgun(MultipartForm as unknown as ConstructorParameters<typeof Mailgun>[0]).client({
    username: 'api',
    key: options.apiKey,
    url: options.url.replace(/\/+$/, ''),
    timeout: options.timeoutMs,
  });

  return {
    async send(msg: OutgoingEmail): Promise<{ providerId: string }> {
      const domain = msg.domain ?? options.domain;
      // It becomes part of the request path: nothing but a domain name may get there.
      if (!isDomainName(domain)) throw new PermanentError('DOMAIN_INVALID', 'the sending domain is not a domain name');
      const data = toMailgunData(withListId(msg, domain));
      let response: { id?: string };
      try {
        response = await client.messages.create(domain, data);
      } catch (error) {
        throw classifyMailgunError(error, (options.now ?? Date.now)());
      }
      // A 2xx without an id still means Mailgun took the message.
      return { providerId: response.id ?? 'unknown' };
    },
  };
}

/**
 * A `List-Id` per customer (RFC 2919; Google asks bulk senders for one): `<{customer}.{domain}>`,
 * so mailbox providers tell one customer's mail from another's on a shared sending domain. Kept
 * when the message already names one.
 */
export function withListId(msg: OutgoingEmail, domain: string): OutgoingEmail {
  const customerId = msg.variables['customer-id'];
  const named = Object.keys(msg.headers).some((h) => h.toLowerCase() === 'list-id');
  if (customerId === undefined || named || !/^[a-z0-9-]{1,63}$/.test(customerId)) return msg;
  return { ...msg, headers: { ...msg.headers, 'List-Id': `<${customerId}.${domain.toLowerCase()}>` } };
}

/** The connection options both mailgun.js adapters take (sender and look-up), checked once, each wrong one named. */
export function checkMailgunOptions(options: Pick<MailgunSenderOptions, 'url' | 'domain' | 'apiKey' | 'timeoutMs'>): void {
  const issues: InputIssue[] = [];
  if (!/^https?:\/\//.test(options.url)) issues.push({ where: 'url', message: 'must be an http(s) URL' });
  if (!/^[a-z0-9.-]+$/i.test(options.domain)) issues.push({ where: 'domain', message: 'must be a domain name' });
  if (!options.apiKey) issues.push({ where: 'apiKey', message: 'is required' });
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0)
    issues.push({ where: 'timeoutMs', message: 'must be a positive number' });
  if (issues.length > 0) throw new ValidationError('MAILGUN_OPTIONS_INVALID', issues);
}

/**
 * Mailgun's form fields. Defence in depth: the renderer already refuses CR, LF and NUL in
 * headers, but a header injection is bad enough to check again right before the wire.
 */
export function toMailgunData(msg: OutgoingEmail): MailgunMessageData {
  const unsafe: string[] = [];
  for (const field of ['from', 'to', 'subject'] as const) {
    if (UNSAFE.test(msg[field])) unsafe.push(field);
  }
  for (const [name, value] of Object.entries(msg.headers)) {
    if (!HEADER_NAME.test(name)) unsafe.push('header name');
    else if (UNSAFE.test(value)) unsafe.push(`header ${name}`);
  }
  for (const [name, value] of Object.entries(msg.variables)) {
    if (UNSAFE.test(name) || UNSAFE.test(value)) unsafe.push('variable');
  }
  if (unsafe.length > 0) {
    throw new PermanentError('HEADER_UNSAFE', `CR, LF, NUL or a bad name in ${[...new Set(unsafe)].join(', ')}: refused before sending`);
  }

  const data: Record<string, string> = { from: msg.from, to: msg.to, subject: msg.subject, html: msg.html, text: msg.text };
  for (const [name, value] of Object.entries(msg.headers)) data[`h:${name}`] = value;
  for (const [name, value] of Object.entries(msg.variables)) data[`v:${name}`] = value;
  return data as MailgunMessageData;
}

function isMailgunApiError(error: unknown): error is MailgunApiError {
  return typeof error === 'object' && error !== null && (error as { type?: unknown }).type === 'MailgunAPIError';
}

/**
 * mailgun.js error → Baton error. Transport failures arrive as status 400 too, so they are
 * told apart by their code before the status is read.
 */
export function classifyMailgunError(error: unknown, now = Date.now()): BatonError {
  if (!isMailgunApiError(error)) {
    // Not from the HTTP exchange as mailgun.js reports it: we cannot tell whether it was sent.
    const message = typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : String(error);
    return new InDoubtError('PROVIDER_UNKNOWN', `unexpected error from mailgun.js: ${message}`, { cause: error });
  }
  const status = error.status ?? 0;
  const message = error.message ?? '';
  const details = typeof error.details === 'string' ? error.details : error.details === undefined ? '' : JSON.stringify(error.details);
  const text = `${message} ${details}`;
  const options = { cause: error };

  if (status === 400 && TRANSPORT_CODE.test(message)) {
    if (NEVER_CONNECTED.test(text))
      return new RetryableError('PROVIDER_UNREACHABLE', `Mailgun unreachable: ${details || message}`, options);
    if (TIMED_OUT.test(text)) return new InDoubtError('PROVIDER_TIMEOUT', `no answer from Mailgun: ${details || message}`, options);
    return new InDoubtError('PROVIDER_NETWORK', `network error talking to Mailgun: ${details || message}`, options);
  }

  // Mailgun's own explanation is in the body (`details`); `message` is the status text.
  const said = details || message || `status ${status}`;
  const lifts = status === 420 ? limitLiftsAt(said) : undefined;
  // A time already past (clocks disagree, or the limit just lifted) says nothing more than "slow down".
  if (lifts !== undefined && lifts > now) {
    // A daily or monthly limit: nothing for this domain until then (mailgun.js drops headers; the body says when).
    return new RetryableError('PROVIDER_LIMIT_REACHED', `Mailgun's sending limit reached (420): ${said}`, {
      ...options,
      retryAfterMs: lifts - now,
    });
  }
  if (status === 429 || status === 420)
    return new RetryableError('PROVIDER_THROTTLED', `Mailgun throttled the request (${status}): ${said}`, options);
  if (status === 503) return new RetryableError('PROVIDER_UNAVAILABLE', `Mailgun unavailable (503): ${said}`, options);
  if (status >= 500) return new InDoubtError('PROVIDER_ERROR', `Mailgun failed (${status}): ${said}`, options);
  if (status === 401 || status === 403)
    return new PermanentError('PROVIDER_AUTH', `Mailgun refused the credentials (${status}): ${said}`, options);
  if (status >= 400) return new PermanentError('PROVIDER_REJECTED', `Mailgun rejected the message (${status}): ${said}`, options);
  return new InDoubtError('PROVIDER_UNKNOWN', `unexpected answer from Mailgun (${status}): ${said}`, options);
}
