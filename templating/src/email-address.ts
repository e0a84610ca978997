/**
 * Email addresses as the audience and the `from` line accept them.
 *
 * Deliberately conservative (the same character set as zod's `z.email()`): ASCII local parts of
 * letters, digits and `_ ' + - .`, and ASCII domain names. Rarer RFC 5322 forms (quoted local
 * parts, unicode local parts, IP literals) are refused rather than passed to the provider.
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
