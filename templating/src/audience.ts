import { parse, type CsvError } from 'csv-parse/sync';
import { RecipientTable, ValidationError, recipientIdFor, type AudienceReport } from '@baton/shared';
import { addressProblem, normaliseAddress, sendableAddress } from './email-address';

/**
 * Audience CSV → recipients plus a report of every row that was not accepted.
 *
 * Problems are per row and never stop the file: a malformed row (an unclosed quote, a stray
 * quote) is reported at its first physical line and parsing resumes on the line after it, so
 * one bad quote does not swallow the rest of the audience. Only a file without a usable header
 * is rejected as a whole.
 */

export interface AudienceRecipient {
  recipientId: string;
  /** The trimmed address with its domain lower-cased. */
  email: string;
  /** Merge fields by normalised column name; always includes `email`. */
  fields: Record<string, string>;
  /** 1-based physical line the row starts on (the header is line 1). */
  line: number;
}

export interface ParsedAudience {
  recipients: AudienceRecipient[];
  report: AudienceReport;
  /** The merge-field names of the header's columns, in order (the email column is `email`). */
  columns: string[];
}

export const MAX_FIELD_LENGTH = 10_000;
export const MAX_REPORTED_PROBLEMS = 1_000;
const EMAIL_HEADERS = new Set(['email', 'e_mail', 'email_address']);

type Problem = AudienceReport['problems'][number];

/** `First Name` → `first_name`; the form merge fields are referred to by in templates. */
export function normaliseFieldName(header: string): string {
  return header
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

interface RawRecord {
  fields: string[];
  line: number;
}

interface RawProblem {
  line: number;
  reason: string;
}

export function parseAudience(csvText: string, customerId: string): ParsedAudience {
  const parser = new AudienceParser(customerId);
  const recipients = parser.end(Buffer.from(csvText, 'utf8'));
  return { recipients, report: parser.report, columns: parser.columnNames };
}

/**
 * The audience read in pieces, in file order: `write` each chunk of bytes, then `end`. Each call
 * returns the recipients accepted from what it completed, so a large audience can be stubbed
 * chunk by chunk (the first recipients go on while the rest is read) instead of parsed whole
 * first. The report (rows, problems) covers everything read so far and is final after `end`.
 * The header's problems are thrown by the call that reads it; the same rules as `parseAudience`
 * (which reads a whole file through this), however the bytes are split.
 */
export class AudienceParser {
  readonly report: AudienceReport = { version: 1, rows: 0, valid: 0, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false };
  private columns: AudienceColumns | undefined;
  /** Records read by the reader's current call, handled once it returns (never inside csv-parse's callback). */
  private records: (RawRecord | RawProblem)[] = [];
  /**
   * Every valid recipient's id so far, and the line it was first on (`firstLines`, by its index):
   * the duplicate check. Held compactly, about 30 bytes a row against 70 for a map of addresses,
   * for as long as a large audience takes to stub.
   */
  private readonly seen = new RecipientTable();
  private firstLines = new Int32Array(1024);
  private readonly reader = new AudienceRecordReader((r) => this.records.push(r));

  constructor(private readonly customerId: string) {}

  /** The merge-field names of the header's columns, in order, once the header is read (else none). */
  get columnNames(): string[] {
    return this.columns?.names ?? [];
  }

  write(chunk: Buffer): AudienceRecipient[] {
    this.reader.write(chunk);
    return this.accept();
  }

  end(chunk?: Buffer): AudienceRecipient[] {
    this.reader.end(chunk);
    const recipients = this.accept();
    if (this.columns === undefined) {
      throw new ValidationError('AUDIENCE_INVALID', [
        { where: 'audience', message: 'is empty: a header row naming an email column is required' },
      ]);
    }
    return recipients;
  }

  private accept(): AudienceRecipient[] {
    const records = this.records;
    this.records = [];
    const recipients: AudienceRecipient[] = [];
    for (const record of records) {
      if (this.columns === undefined) {
        if (!('fields' in record)) {
          throw new ValidationError('AUDIENCE_INVALID', [
            { where: `audience line ${record.line}`, message: `the header row cannot be read: ${record.reason}` },
          ]);
        }
        this.columns = audienceColumns(record.fields);
        continue;
      }
      const recipient = this.row(this.columns, record);
      if (recipient !== undefined) recipients.push(recipient);
    }
    return recipients;
  }

  /**
   * Ends the read at an error the rest of the file cannot be read past (a line longer than any
   * record), once rows before it were read and may be stubbed and sent: it counts as one invalid
   * row at its line, so the report's counts still add up, and the report is final.
   */
  stopAt(err: ValidationError): AudienceReport {
    const issue = err.issues[0];
    const line = Number(/line (\d+)/.exec(issue?.where ?? '')?.[1] ?? 0);
    this.report.rows += 1;
    this.addProblem({ line, kind: 'invalid', reason: `${issue?.message ?? err.message}; the rest of the file was not read` });
    return this.report;
  }

  private addProblem(p: Problem): void {
    const { report } = this;
    if (p.kind === 'invalid') report.invalid += 1;
    else report.duplicate += 1;
    if (report.problems.length < MAX_REPORTED_PROBLEMS) report.problems.push(p);
    else report.problemsTruncated = true;
  }

  /** One row: its recipient, or `undefined` with the problem counted (or a blank row skipped). */
  private row(columns: AudienceColumns, record: RawRecord | RawProblem): AudienceRecipient | undefined {
    const { report } = this;
    if (!('fields' in record)) {
      report.rows += 1;
      this.addProblem({ line: record.line, kind: 'invalid', reason: record.reason });
      return undefined;
    }
    const { fields: values, line } = record;
    if (values.every((v) => v.trim() === '')) return undefined; // a blank row (`,,`, spaces): not a row at all
    report.rows += 1;

    if (values.length !== columns.names.length) {
      this.addProblem({ line, kind: 'invalid', reason: `expected ${columns.names.length} fields, found ${values.length}` });
      return undefined;
    }
    const tooLong = values.findIndex((v) => v.length > MAX_FIELD_LENGTH);
    if (tooLong >= 0) {
      this.addProblem({
        line,
        kind: 'invalid',
        reason: `column "${columns.headers[tooLong]}" is longer than ${MAX_FIELD_LENGTH} characters`,
      });
      return undefined;
    }
    const trimmed = values[columns.emailIndex]!.trim();
    const problem = addressProblem(trimmed);
    if (problem !== undefined) {
      this.addProblem({ line, kind: 'invalid', reason: problem, ...(trimmed ? { email: trimmed } : {}) });
      return undefined;
    }
    // The id is derived from the normalised address: the same id, the same address.
    const recipientId = recipientIdFor(this.customerId, normaliseAddress(trimmed));
    const before = this.seen.size;
    const index = this.seen.add(recipientId);
    if (this.seen.size === before) {
      const earlier = this.firstLines[index]!;
      this.addProblem({ line, kind: 'duplicate', reason: `duplicate of the address on line ${earlier}`, email: trimmed });
      return undefined;
    }
    this.noteFirstLine(index, line);

    const email = sendableAddress(trimmed);
    const fields: Record<string, string> = {};
    columns.names.forEach((name, i) => {
      fields[name] = i === columns.emailIndex ? email : values[i]!;
    });
    report.valid += 1;
    return { recipientId, email, fields, line };
  }

  private noteFirstLine(index: number, line: number): void {
    if (index >= this.firstLines.length) {
      const grown = new Int32Array(2 * this.firstLines.length);
      grown.set(this.firstLines);
      this.firstLines = grown;
    }
    this.firstLines[index] = line;
  }
}

export interface AudienceColumns {
  /** As written in the file, for messages. */
  headers: string[];
  /** Normalised merge-field names; the email column is always `email`. */
  names: string[];
  emailIndex: number;
}

/** The header row's columns and where the email column is; refuses a header the stubber would refuse. */
export function audienceColumns(headers: string[]): AudienceColumns {
  const normalised = headers.map((h, i) => normaliseFieldName(h) || `column_${i + 1}`);
  const exact = normalised.indexOf('email');
  const emailIndex = exact >= 0 ? exact : normalised.findIndex((n) => EMAIL_HEADERS.has(n));
  if (emailIndex < 0) {
    const found = headers.map((h) => JSON.stringify(h.slice(0, 40))).join(', ');
    throw new ValidationError('AUDIENCE_NO_EMAIL_COLUMN', [
      {
        where: 'audience line 1',
        message: `no email column: the header row needs a column named "email" (or "e-mail", "email address"); found ${found}`,
      },
    ]);
  }
  const names = normalised.map((n, i) => (i === emailIndex ? 'email' : n));
  const seen = new Map<string, number>();
  const issues = [];
  for (const [i, name] of names.entries()) {
    const before = seen.get(name);
    if (before !== undefined) {
      issues.push({
        where: 'audience line 1',
        message: `columns ${JSON.stringify(headers[before])} and ${JSON.stringify(headers[i])} both become the merge field "${name}"`,
      });
    } else {
      seen.set(name, i);
    }
  }
  if (issues.length > 0) throw new ValidationError('AUDIENCE_DUPLICATE_COLUMN', issues);
  return { headers, names, emailIndex };
}

// ---- reading records with their physical lines ----------------------------------------------

/** A record as the audience dialect reads it: its fields, its first physical line, its bytes. */
export interface AudienceRecord {
  fields: string[];
  line: number;
  /** The record's bytes as written: any blank lines before it, its fields, its line break. */
  raw: Buffer;
}

/** A record the dialect cannot read (an unclosed or stray quote): its first physical line. */
export interface MalformedAudienceRecord {
  line: number;
  reason: string;
  /** That one physical line, line break included; reading resumes on the next line. */
  raw: Buffer;
}

/** The longest record accepted, in characters: bounds a runaway quoted field (and streaming memory). */
export const MAX_RECORD_LENGTH = 1_048_576;

/**
 * Thrown from csv-parse's `on_skip` to end a pass at its first malformed record. Not an `Error`:
 * it is expected once per such row, and an `Error` captures a stack each time.
 */
class StopPass {
  constructor(readonly error: CsvError | undefined) {}
}

/**
 * Runs a csv-parse pass without capturing stacks for the errors it makes: csv-parse builds a
 * `CsvError` for every malformed record, and capturing their stacks was a third of the time a
 * file of malformed rows took. Our own code inside the pass (`emit`) runs with stacks as usual.
 */
function withoutCsvStacks<T>(pass: (withStacks: <R>(fn: () => R) => R) => T): T {
  const limit = Error.stackTraceLimit;
  const withStacks = <R>(fn: () => R): R => {
    Error.stackTraceLimit = limit;
    try {
      return fn();
    } finally {
      Error.stackTraceLimit = 0;
    }
  };
  Error.stackTraceLimit = 0;
  try {
    return pass(withStacks);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Reads the audience dialect from chunks of bytes, in flat memory: `write` each chunk, then
 * `end`. Emits every record and every malformed record, in file order, each with the physical
 * line it starts on and its raw bytes (together they cover the file; `end` returns what follows
 * the last record: blank lines). Lines are found from byte offsets (csv-parse reports how far each
 * record reached), so they stay right with CRLF, CR, blank lines, multi-line quoted fields and
 * multi-byte text. The one home of the dialect: `parseAudience` reads a whole file through it.
 */
export class AudienceRecordReader {
  /**
   * The bytes after the last record read, as the chunks came: joined once, when a line break
   * arrives, so a long line written in small chunks costs linear time, not a copy of everything
   * so far per chunk.
   */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** Whether those bytes hold a line break already (the start of a quoted field still open), so they are no runaway line. */
  private partsHaveBreak = false;
  /** The 1-based line the held bytes start on; whether they start the file (its BOM). */
  private line = 1;
  private atStart = true;

  constructor(private readonly emit: (r: AudienceRecord | MalformedAudienceRecord) => void) {}

  write(chunk: Buffer): void {
    // Parse only up to a line break that cannot be the CR of a CRLF cut in two: the last one in
    // this chunk, or a CR that ended the bytes before when this chunk does not start with LF.
    // Bytes held before hold no other (they were read up to their last one).
    const before = this.partsBytes;
    const inChunk = lastLineBreak(chunk);
    const held = this.parts[this.parts.length - 1];
    const crBefore = held !== undefined && held[held.length - 1] === 0x0d && chunk.length > 0 && chunk[0] !== 0x0a;
    if (inChunk < 0 && !crBefore) {
      // A record holds at most MAX_RECORD_LENGTH characters (4 bytes each at most): this much
      // without a line break is not an audience, and holding more would not be flat memory.
      if (!this.partsHaveBreak && before + chunk.length > 4 * MAX_RECORD_LENGTH) {
        throw new ValidationError('AUDIENCE_INVALID', [
          {
            where: `audience line ${this.line}`,
            message: `runs past ${4 * MAX_RECORD_LENGTH} bytes without a line break (a binary or corrupted file?)`,
          },
        ]);
      }
      this.hold(chunk);
      return;
    }
    const buf = this.parts.length === 0 ? chunk : Buffer.concat([...this.parts, chunk], before + chunk.length);
    const cut = inChunk >= 0 ? before + inChunk : before - 1;
    const used = this.read(buf.subarray(0, cut + 1), false);
    this.parts = [];
    this.partsBytes = 0;
    // Copied: the rest is at most a line (or an open quoted field), and the whole buffer need not stay.
    if (used < buf.length) this.hold(Buffer.from(buf.subarray(used)));
    this.partsHaveBreak = used <= cut;
  }

  /** Reads what is left; returns the bytes after the last record (blank lines, or nothing). */
  end(chunk?: Buffer): Buffer {
    const rest = chunk === undefined ? this.parts : [...this.parts, chunk];
    const buf = rest.length === 1 ? rest[0]! : Buffer.concat(rest);
    this.parts = [];
    this.partsBytes = 0;
    this.partsHaveBreak = false;
    const used = this.read(buf, true);
    return buf.subarray(used);
  }

  private hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.partsBytes += bytes.length;
  }

  /**
   * Reads `buf` (which ends at a line break unless `final`), resuming after each malformed
   * record; returns how many bytes were used. Without `final`, a record that may go on past
   * `buf` (a quoted field still open at its end) is left unread, for the next chunk.
   */
  private read(buf: Buffer, final: boolean): number {
    const lines = new LineIndex(buf);
    let base = 0;
    while (base < buf.length) {
      let end = base; // where the last record of this pass ended
      try {
        withoutCsvStacks((withStacks) =>
          parse(buf.subarray(base), {
            bom: this.atStart && base === 0,
            relax_column_count: true,
            skip_empty_lines: true,
            skip_records_with_error: true,
            max_record_size: MAX_RECORD_LENGTH,
            record_delimiter: ['\r\n', '\n', '\r'],
            on_record: (record: string[], context) => {
              const next = base + context.bytes_records;
              withStacks(() =>
                this.emit({ fields: record, line: this.line - 1 + lines.firstContentLine(end), raw: buf.subarray(end, next) }),
              );
              end = next;
              return null; // collected here; csv-parse need not keep them
            },
            on_skip: (err) => {
              throw new StopPass(err);
            },
          }),
        );
        base = end; // blank lines after the last record stay for the next one (or the tail)
        break;
      } catch (err) {
        const csvError = err instanceof StopPass ? err.error : isCsvError(err) ? err : undefined;
        if (csvError === undefined && !(err instanceof StopPass)) throw err;
        if (!final && csvError?.code === 'CSV_QUOTE_NOT_CLOSED') {
          base = end; // the field may close in the next chunk
          break;
        }
        // The malformed record starts at the first non-blank line after the last good one;
        // report it there and resume on the following line.
        const line = lines.firstContentLine(end);
        const next = lines.startOf(line + 1) ?? buf.length;
        this.emit({ line: this.line - 1 + line, reason: describeCsvError(csvError), raw: buf.subarray(end, next) });
        base = next;
      }
    }
    if (base > 0) this.atStart = false;
    this.line += lines.lineOf(base) - 1;
    return base;
  }
}

/** The last byte of `chunk` that ends a line for certain (LF, or a CR not at its end and not before LF), or -1. */
function lastLineBreak(chunk: Buffer): number {
  let cut = chunk.length - 1;
  while (cut >= 0 && !(chunk[cut] === 0x0a || (chunk[cut] === 0x0d && cut + 1 < chunk.length && chunk[cut + 1] !== 0x0a))) cut--;
  return cut;
}

/** An error csv-parse raised itself rather than through `on_skip`: treated the same way. */
function isCsvError(err: unknown): err is CsvError {
  const code: unknown = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('CSV_');
}

function describeCsvError(err: CsvError | undefined): string {
  switch (err?.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'malformed row: a quoted field is never closed';
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return 'malformed row: a closing quote is followed by other characters (double a quote inside a quoted field: "")';
    case 'CSV_MAX_RECORD_SIZE':
      return `malformed row: longer than ${MAX_RECORD_LENGTH} characters (a quoted field that is never closed?)`;
    case 'INVALID_OPENING_QUOTE':
      return 'malformed row: a quote inside an unquoted field (quote the whole field and double the inner quotes)';
    default:
      return `malformed row (${err?.code ?? 'unknown CSV error'})`;
  }
}

/** Byte offset ↔ 1-based physical line; CRLF, LF and CR each end a line. */
class LineIndex {
  private readonly starts: number[] = [0];

  constructor(private readonly buf: Buffer) {
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      if (c === 0x0d && buf[i + 1] === 0x0a) i++;
      if (c === 0x0a || c === 0x0d) this.starts.push(i + 1);
    }
  }

  /** The line holding `offset`. */
  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  /** The first line at or after `offset` that is not empty (csv-parse skips empty lines). */
  firstContentLine(offset: number): number {
    let i = offset;
    while (i < this.buf.length && (this.buf[i] === 0x0a || this.buf[i] === 0x0d)) i++;
    return this.lineOf(i);
  }

  /** Byte offset where `line` starts, or `undefined` past the end. */
  startOf(line: number): number | undefined {
    const start = this.starts[line - 1];
    return start === undefined || start >= this.buf.length ? undefined : start;
  }
}
