import emailAddresses from 'email-addresses';

/**
 * Email addresses as the audience and the `from` line accept them.
 *
 * Deliberately conservative (the same character set as zod's `z.email()`): ASCII local parts of
 * letters, digits and `_ ' + - .`, and ASCII domain names. Rarer RFC 5322 forms (quoted local
 * parts, unicode local parts, IP literals) are refused rather than passed to the provider.
 *
 * A header mailbox (`from`) is parsed with email-addresses, an RFC 5322 grammar, so what is
 * checked is what a mail server will read: exactly one mailbox, re-written in a canonical form.
 */

export const MAX_ADDRESS_LENGTH = 254;
const MAX_LOCAL_LENGTH = 64;

const LOCAL = /^[A-Za-z0-9_'+-]+(?:\.[A-Za-z0-9_'+-]+)*$/;
const DOMAIN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
/** CR, LF, NUL and every other whitespace or control character. */
const FORBIDDEN = /[\s\u0000-\u001F\u007F-\u009F]/;

/** Why `address` (already trimmed) cannot be used, or `undefined` when it can. */
export function addressProblem(address: string): string | undefined {
  if (address.length === 0) return 'email is empty';
  if (FORBIDDEN.test(address)) return 'email contains a line break, NUL, control character or whitespace';
  if (address.length > MAX_ADDRESS_LENGTH) return `email is longer than ${MAX_ADDRESS_LENGTH} characters`;
  const at = address.lastIndexOf('@');
  if (at < 1 || at === address.length - 1) return 'email is not a valid address (no local part or domain)';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > MAX_LOCAL_LENGTH)
    return `email is not a valid address (the part before @ is longer than ${MAX_LOCAL_LENGTH} characters)`;
  if (!LOCAL.test(local) || !DOMAIN.test(domain)) return 'email is not a valid address';
  return undefined;
}

export function isValidAddress(address: string): boolean {
  return addressProblem(address) === undefined;
}

/** The address to send to: as written, with the domain lower-cased (local parts may be case-sensitive). */
export function sendableAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at + 1) + address.slice(at + 1).toLowerCase();
}

/** The identity of an address, for duplicates and recipient ids: all lower-case. */
export function normaliseAddress(address: string): string {
  return address.toLowerCase();
}

// ---- header mailboxes (`from`) ----------------------------------------------------------------

/** Longest `from` accepted; also bounds the parser's work. */
export const MAX_MAILBOX_LENGTH = 320;

/** One mailbox, as it goes into a header. */
export interface Mailbox {
  /** The display name as the reader sees it (quotes and comments removed), if any. */
  readonly name: string | undefined;
  readonly address: string;
  /** The header value: `address` or `Name <address>`, the name quoted when RFC 5322 requires it. */
  readonly header: string;
}

export type MailboxCheck = { ok: true; mailbox: Mailbox } | { ok: false; problem: string };

const HEADER_BREAKING = /[\r\n\u0000]/;
/** C0 (tab included), DEL, C1 and the Unicode line and paragraph separators. */
const CONTROL_OR_SEPARATOR = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/;
/** RFC 5322 atext, plus any non-ASCII character (RFC 6532) and single spaces between words. */
const PLAIN_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+)*$/;
const ENCODED_WORD = /=\?[^?]*\?[bqBQ]\?/;
const SHAPE = 'must be "address" or "Name <address>" (one mailbox)';

/**
 * Checks that `value` is exactly one mailbox that can go into a header such as From (no list, no
 * group, no control character, no line or paragraph separator), and gives its canonical header
 * form. The one home of this rule: `from` (and a reply-to, should one be added) goes through it.
 */
export function checkMailbox(value: string): MailboxCheck {
  const fail = (problem: string): MailboxCheck => ({ ok: false, problem });
  if (HEADER_BREAKING.test(value)) return fail('must not contain CR, LF or NUL');
  const control = CONTROL_OR_SEPARATOR.exec(value);
  if (control) return fail(`must not contain control characters or line separators (found ${codePoint(control[0])})`);
  const trimmed = value.trim();
  if (trimmed.length === 0) return fail('is empty');
  if (trimmed.length > MAX_MAILBOX_LENGTH) return fail(`is longer than ${MAX_MAILBOX_LENGTH} characters`);

  const parsed = emailAddresses.parseOneAddress({ input: trimmed, rfc6532: true });
  if (parsed === null) return fail(whyNotOneMailbox(trimmed));
  if (parsed.type === 'group') return fail(`${SHAPE}, not a group ("${parsed.name}: …;")`);

  const problem = addressProblem(parsed.address);
  if (problem !== undefined) return fail(`${SHAPE} (${problem.replace(/^email/, 'the address')})`);
  const address = sendableAddress(parsed.address);
  const name = parsed.name === null ? undefined : parsed.name.replace(/ {2,}/g, ' ').trim() || undefined;
  if (name !== undefined && ENCODED_WORD.test(name)) {
    return fail('the display name must be plain text, not a MIME encoded-word (=?…?=): it is encoded when sent');
  }
  return { ok: true, mailbox: { name, address, header: formatMailbox(name, address) } };
}

/** `address`, or `Name <address>` with the name quoted (and `"` and `\` escaped) unless it is plain words. */
export function formatMailbox(name: string | undefined, address: string): string {
  if (name === undefined || name === '') return address;
  const phrase = PLAIN_PHRASE.test(name) ? name : `"${name.replace(/(["\\])/g, '\\$1')}"`;
  return `${phrase} <${address}>`;
}

/** Says why the parser found no single mailbox, as precisely as a cheap look allows. */
function whyNotOneMailbox(value: string): string {
  const list = emailAddresses.parseAddressList({ input: value, rfc6532: true });
  if (list !== null && list.length > 1) {
    return `${SHAPE}, not a list of ${list.length} addresses (a comma outside quotes separates addresses)`;
  }
  const { unclosedQuote, commaOutsideQuotes } = scanQuotes(value);
  if (unclosedQuote) return `${SHAPE}: a double quote is not closed`;
  if (commaOutsideQuotes) {
    return `${SHAPE}: a comma outside quotes would make it a list of addresses; quote a display name with a comma ("Acme, Inc." <news@acme.example>)`;
  }
  return `${SHAPE}; put a display name with special characters ( ) < > [ ] : ; @ \\ , . " in double quotes`;
}

function scanQuotes(value: string): { unclosedQuote: boolean; commaOutsideQuotes: boolean } {
  let inQuotes = false;
  let commaOutsideQuotes = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') i++;
    else if (c === '"') inQuotes = !inQuotes;
    else if (c === ',' && !inQuotes) commaOutsideQuotes = true;
  }
  return { unclosedQuote: inQuotes, commaOutsideQuotes };
}

function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}
