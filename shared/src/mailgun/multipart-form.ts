import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * The `multipart/form-data` body mailgun.js sends a message as, for the sender's text fields:
 * given to mailgun.js in place of the `form-data` package (`new Mailgun(MultipartForm)`), it
 * writes the same bytes — `form-data`'s boundary form, part headers and line breaks — but as one
 * buffer with its length known, where `form-data` streams every part header, value and line
 * break as a write of its own, asks for a random boundary per request and has axios measure the
 * length through a promisified callback: about a sixth of the sender's CPU per call
 * (`npm run bench:sender`, docs/benchmarks.md, fourth pass).
 *
 * Only what the sender appends is taken: string fields. Anything else (a file, a buffer) is
 * refused with the field's name, so nothing is ever sent other than as written.
 */
export class MultipartForm extends Readable {
  private readonly boundary = nextBoundary();
  private readonly parts: string[] = [];
  private body: Buffer | undefined;

  append(name: string, value: unknown): void {
    if (typeof value !== 'string') {
      throw new TypeError(`MultipartForm takes text fields only: "${name}" is ${value === null ? 'null' : typeof value}`);
    }
    if (this.body !== undefined) throw new Error(`MultipartForm: "${name}" appended after the body was read`);
    this.parts.push(`--${this.boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"\r\n\r\n`, value, '\r\n');
  }

  getBoundary(): string {
    return this.boundary;
  }

  /** As `form-data`'s (axios copies them onto the request), with the length, so axios need not ask for it. */
  getHeaders(): Record<string, string> {
    return { 'content-type': `multipart/form-data; boundary=${this.boundary}`, 'Content-Length': String(this.bytes().length) };
  }

  getLengthSync(): number {
    return this.bytes().length;
  }

  getLength(callback: (error: Error | null, length: number) => void): void {
    const length = this.bytes().length;
    process.nextTick(() => callback(null, length));
  }

  /** The whole body: parts, then the closing boundary. */
  bytes(): Buffer {
    this.body ??= Buffer.from(`${this.parts.join('')}--${this.boundary}--\r\n`, 'utf8');
    return this.body;
  }

  /** How axios (and `form-data`) tell a form from another object. */
  override toString(): string {
    return '[object FormData]';
  }

  override _read(): void {
    this.push(this.bytes());
    this.push(null);
  }
}

/** As `form-data` (and the WHATWG encoding) does: CR, LF and `"` cannot end the name's quoted string. */
function escapeName(name: string): string {
  return name.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
}

/**
 * `form-data`'s boundary: 26 dashes and 24 random hex digits, a fresh random one per body. The
 * random bytes are drawn a few kilobytes at a time rather than a syscall per request.
 */
const BOUNDARY_BYTES = 12;
const POOL_BOUNDARIES = 256;
let pool = Buffer.alloc(0);
let used = 0;

function nextBoundary(): string {
  if (used >= pool.length) {
    pool = randomBytes(BOUNDARY_BYTES * POOL_BOUNDARIES);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + BOUNDARY_BYTES);
  used += BOUNDARY_BYTES;
  return `--------------------------${hex}`;
}
