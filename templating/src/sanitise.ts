import { createHmac } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { domainToASCII } from 'node:url';
import { ValidationError } from '@baton/shared';
import { AudienceRecordReader, audienceColumns, type AudienceColumns, type AudienceRecord, type MalformedAudienceRecord } from './audience';
import { addressProblem, normaliseAddress } from './email-address';

/**
 * QA-safe copies of audience data: every email address, wherever it stands, replaced by a
 * deterministic address at the QA domain, and nothing else changed.
 *
 * Text is cut into *runs*: maximal stretches of characters an address can be made of (letters
 * of any script, digits, `. _ ' + - @`). Everything else (quotes, commas, line breaks, spaces,
 * `< > : ; / ( )`) separates runs, so the CSV quoting, delimiters and line breaks around a value
 * are never part of a run: the runs of a record's raw bytes are exactly the runs of its parsed
 * fields, in order. Addresses are found and replaced inside runs only, which is why a sanitised
 * file keeps every byte of structure (quotes, ragged rows, malformed rows, blank lines, line
 * numbers) and every value that is not an address.
 */

const RUN = /[\p{L}\p{M}\p{N}._'+\-@]+/gu;
const IN_RUN = /([\p{L}\p{M}\p{N}._'+-]+)@([\p{L}\p{M}\p{N}.-]+)/gu;

/** An address found in text, as written, and its identity (lower case, domain in punycode). */
export interface FoundAddress {
  /** Offset in the text searched. */
  index: number;
  written: string;
  normalised: string;
  domain: string;
}

/** Every address in `text`: `mailto:`, `<…>`, quoted, any case, plus-addressing, IDN or punycode domains. */
export function findAddresses(text: string): FoundAddress[] {
  const found: FoundAddress[] = [];
  for (const run of text.matchAll(RUN)) {
    for (const a of addressesInRun(run[0])) found.push({ ...a, index: run.index + a.index });
  }
  return found;
}

function addressesInRun(run: string): FoundAddress[] {
  const found: FoundAddress[] = [];
  for (const m of run.matchAll(IN_RUN)) {
    // Punctuation around an address in prose ('ann@x.com', ann@x.com.) is not part of it.
    const local = m[1]!.replace(/^['.]+/, '');
    const domain = m[2]!.replace(/[.-]+$/, '');
    if (local === '' || domain === '') continue;
    const written = `${local}@${domain}`;
    const lower = domain.toLowerCase();
    // Only a domain with letters beyond ASCII needs the (slower) IDN conversion.
    const asciiDomain = /^[\x21-\x7e]*$/.test(lower) ? lower : domainToASCII(lower) || lower;
    found.push({
      index: m.index + (m[1]!.length - local.length),
      written,
      normalised: `${local.toLowerCase()}@${asciiDomain}`,
      domain: asciiDomain,
    });
  }
  return found;
}

/**
 * The QA address standing for `normalisedAddress`: HMAC-SHA256 keyed with the secret, 130 bits in
 * base 32, so equal addresses map to equal ones, distinct ones (in practice) to distinct ones, and
 * the mapping cannot be reversed or recomputed without the secret.
 */
export class AddressMapping {
  constructor(
    private readonly secret: string,
    readonly domain: string,
  ) {
    const problem = addressProblem(`qa@${domain}`);
    if (problem !== undefined || domain !== domain.toLowerCase()) {
      throw new ValidationError('SANITISE_INVALID', [{ where: '--domain', message: `must be a lower-case domain name, got "${domain}"` }]);
    }
  }

  map(normalisedAddress: string): string {
    const digest = createHmac('sha256', this.secret).update(normalisedAddress).digest();
    return `q${base32(digest).slice(0, 26)}@${this.domain}`;
  }

  /** `run` with every address in it replaced; `count` says how many were. */
  replaceInRun(run: string): { text: string; count: number } {
    let text = '';
    let at = 0;
    const found = addressesInRun(run);
    for (const a of found) {
      // Right after another address (`a@x.com_b@y.com`, `a@x.com._b@y.com`) the local part starts
      // with `_` or `+`, which ends the domain before it: kept, or two QA addresses would run together.
      const keep = at > 0 && /^[.-]*$/.test(run.slice(at, a.index)) ? a.written[0]! : '';
      text += run.slice(at, a.index) + keep + this.map(a.normalised);
      at = a.index + a.written.length;
    }
    return { text: text + run.slice(at), count: found.length };
  }
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** The value put in the email column: a valid address maps whole; an invalid one stays invalid for its reason. */
export function sanitiseEmailValue(value: string, mapping: AddressMapping): { runs: string[]; count: number } {
  const runs = [...value.matchAll(RUN)].map((r) => r[0]);
  const trimmed = value.trim();
  const problem = addressProblem(trimmed);
  if (problem === undefined) {
    // A valid address has no separator in it: it is the value's one run.
    return { runs: [mapping.map(normaliseAddress(trimmed))], count: 1 };
  }
  let count = 0;
  const out = runs.map((run) => {
    const r = mapping.replaceInRun(run);
    count += r.count;
    return r.text;
  });
  const rebuilt = () => rebuild(value, out).trim();
  if (count > 0 && addressProblem(rebuilt()) !== problem) keepProblem(problem, out, rebuilt, mapping.domain);
  if (addressProblem(rebuilt()) !== problem) {
    throw new SanitiseError(`cannot keep the email value invalid for its reason (${problem})`);
  }
  return { runs: out, count };
}

/** Re-breaks a rewritten invalid address the way the original was broken (its length, its shape). */
function keepProblem(problem: string, runs: string[], rebuilt: () => string, domain: string): void {
  const last = runs.findLastIndex((r) => r.includes('@'));
  if (last < 0) return;
  const text = rebuilt();
  if (/longer than \d+ characters$/.test(problem)) {
    runs[last] = 'x'.repeat(Math.max(0, 255 - text.length)) + runs[last]!;
  } else if (/the part before @ is longer/.test(problem)) {
    runs[last] = 'x'.repeat(Math.max(0, 65 - text.lastIndexOf('@'))) + runs[last]!;
  } else if (problem === 'email is not a valid address') {
    const at = runs[last]!.lastIndexOf('@');
    runs[last] = `${runs[last]!.slice(0, at)}.${runs[last]!.slice(at)}`;
    if (addressProblem(rebuilt()) === problem) return;
    // Several addresses run together: keep one short, broken one (invalid rows are never
    // de-duplicated, so which QA address stands there does not matter). No longer than before.
    runs.forEach((r, i) => {
      if (i !== last && r.includes('@')) runs[i] = 'x';
    });
    runs[last] = `.@${domain}`;
  }
}

/** `value` with its runs replaced by `runs`, the separators between them kept. */
function rebuild(value: string, runs: readonly string[]): string {
  let i = 0;
  return value.replace(RUN, () => runs[i++]!);
}

/** Sanitising could not be done faithfully (an input it cannot copy, or a check that failed). */
export class SanitiseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SanitiseError';
  }
}

/** How many addresses were rewritten, by column as the header names it. */
export type RewriteCounts = Record<string, number>;
export const UNREADABLE_ROWS = '(unreadable rows)';

export interface SanitiseOptions {
  mapping: AddressMapping;
  /** Literal prefixes: `https://www.example.com` → `https://qa.example.com`. */
  urlRewrites?: readonly { from: string; to: string }[];
}

/**
 * An audience CSV in, its QA-safe copy out, chunk by chunk: `write` returns the text to append,
 * `end` the rest. Each record keeps its raw bytes with only the runs that hold addresses changed.
 */
export class AudienceSanitiser {
  readonly rewritten: RewriteCounts = {};
  urlsRewritten = 0;
  records = 0;
  private columns: AudienceColumns | undefined;
  private out: string[] = [];
  private readonly reader = new AudienceRecordReader((r) => this.out.push(this.record(r)));

  constructor(private readonly options: SanitiseOptions) {}

  write(chunk: Buffer): string {
    this.reader.write(chunk);
    return this.flush();
  }

  end(): string {
    const tail = this.reader.end();
    if (this.columns === undefined) {
      throw new ValidationError('AUDIENCE_INVALID', [
        { where: 'line 1', message: 'is empty: a header row naming an email column is required' },
      ]);
    }
    this.out.push(this.urls(this.anyRuns(decode(tail, -1), undefined)));
    return this.flush();
  }

  private flush(): string {
    const text = this.out.join('');
    this.out = [];
    return text;
  }

  private record(r: AudienceRecord | MalformedAudienceRecord): string {
    this.records += 1;
    const raw = decode(r.raw, r.line);
    if (!('fields' in r)) {
      if (this.columns === undefined) {
        throw new ValidationError('AUDIENCE_INVALID', [{ where: `line ${r.line}`, message: `the header row cannot be read: ${r.reason}` }]);
      }
      return this.urls(this.anyRuns(raw, UNREADABLE_ROWS));
    }
    const first = this.columns === undefined;
    if (first) this.columns = audienceColumns(r.fields);
    const columns = this.columns!;
    const runs: string[] = [];
    r.fields.forEach((value, i) => {
      const column = columns.headers[i] ?? `column ${i + 1}`;
      if (!first && i === columns.emailIndex) {
        const e = withLine(r.line, column, () => sanitiseEmailValue(value, this.options.mapping));
        this.count(column, e.count);
        runs.push(...e.runs);
        return;
      }
      for (const run of value.match(RUN) ?? []) {
        const replaced = this.options.mapping.replaceInRun(run);
        this.count(column, replaced.count);
        runs.push(replaced.text);
      }
    });
    const rawRuns = raw.match(RUN)?.length ?? 0;
    if (rawRuns !== runs.length) throw new SanitiseError(`line ${r.line}: its fields and its bytes do not line up`);
    return this.urls(rebuild(raw, runs));
  }

  private anyRuns(text: string, column: string | undefined): string {
    return text.replace(RUN, (run) => {
      const replaced = this.options.mapping.replaceInRun(run);
      if (column !== undefined) this.count(column, replaced.count);
      return replaced.text;
    });
  }

  private urls(text: string): string {
    let out = text;
    for (const { from, to } of this.options.urlRewrites ?? []) {
      const parts = out.split(from);
      this.urlsRewritten += parts.length - 1;
      out = parts.join(to);
    }
    return out;
  }

  private count(column: string, n: number): void {
    if (n > 0) this.rewritten[column] = (this.rewritten[column] ?? 0) + n;
  }
}

function withLine<T>(line: number, column: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof SanitiseError) throw new SanitiseError(`line ${line}, column "${column}": ${err.message}`);
    throw err;
  }
}

function decode(raw: Buffer, line: number): string {
  if (!isUtf8(raw)) throw new SanitiseError(`line ${line < 0 ? 'at the end' : line}: not UTF-8 text (a binary or corrupted file?)`);
  return raw.toString('utf8');
}

/** A URL rewrite from `--rewrite-url FROM=TO`. */
export function parseUrlRewrite(spec: string): { from: string; to: string } {
  const eq = spec.indexOf('=');
  const from = eq < 0 ? '' : spec.slice(0, eq);
  const to = eq < 0 ? '' : spec.slice(eq + 1);
  if (!/^https?:\/\/[^\s",]+$/.test(from) || !/^https?:\/\/[^\s",]+$/.test(to)) {
    throw new ValidationError('SANITISE_INVALID', [
      { where: '--rewrite-url', message: `must be FROM=TO, two http(s) URLs without spaces, quotes or commas; got "${spec}"` },
    ]);
  }
  return { from, to };
}

/**
 * Re-reads a sanitised audience and throws, naming line and column, at the first address outside
 * the QA domain. Counts records, so the caller can check none was lost.
 */
export class AudienceVerifier {
  records = 0;
  private columns: AudienceColumns | undefined;
  private readonly reader = new AudienceRecordReader((r) => this.check(r));

  constructor(private readonly domain: string) {}

  write(chunk: Buffer): void {
    this.reader.write(chunk);
  }

  end(): void {
    this.inText(this.reader.end().toString('utf8'), 'the end of the file', undefined);
  }

  private check(r: AudienceRecord | MalformedAudienceRecord): void {
    this.records += 1;
    if (!('fields' in r)) return this.inText(r.raw.toString('utf8'), `line ${r.line}`, undefined);
    if (this.columns === undefined) this.columns = audienceColumns(r.fields);
    r.fields.forEach((value, i) => this.inText(value, `line ${r.line}`, this.columns!.headers[i] ?? `column ${i + 1}`));
  }

  private inText(text: string, where: string, column: string | undefined): void {
    const outside = findAddresses(text).find((a) => a.domain !== this.domain);
    if (outside) {
      const col = column === undefined ? '' : `, column "${column}"`;
      throw new SanitiseError(`verification failed: ${where}${col} still holds an address outside ${this.domain}`);
    }
  }
}
