import { ValidationError, recipientIdFor } from '@baton/shared';
import { AudienceParser, parseAudience } from '../src/audience';
import { caught } from './fixtures';

const customer = 'acme';

describe('parseAudience', () => {
  it('turns each row into a recipient whose merge fields are named after the normalised headers', () => {
    // Prepare
    const csv = 'Email,First Name,Last-Name\nann@example.com,Ann,Lee\n';

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(recipients).toEqual([
      {
        recipientId: recipientIdFor(customer, 'ann@example.com'),
        email: 'ann@example.com',
        fields: { email: 'ann@example.com', first_name: 'Ann', last_name: 'Lee' },
        line: 2,
      },
    ]);
    expect(report).toEqual({ version: 1, rows: 1, valid: 1, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false });
  });

  it('keeps quoted commas and embedded newlines inside their field and numbers lines physically', () => {
    // Prepare
    const csv = 'email,name,note\n"ann@example.com","Lee, Ann","line one\nline two"\nbob@example.com,Bob,plain\n';

    // Act
    const { recipients } = parseAudience(csv, customer);

    // Assess
    expect(recipients.map((r) => [r.fields.name, r.fields.note, r.line])).toEqual([
      ['Lee, Ann', 'line one\nline two', 2],
      ['Bob', 'plain', 4],
    ]);
  });

  it('reads a file that starts with a byte-order mark', () => {
    // Prepare
    const csv = '\uFEFFemail,name\nann@example.com,Ann\n';

    // Act
    const { recipients } = parseAudience(csv, customer);

    // Assess
    expect(recipients).toHaveLength(1);
    expect(Object.keys(recipients[0]!.fields)).toEqual(['email', 'name']);
  });

  it('skips blank lines without counting them as rows while line numbers stay physical', () => {
    // Prepare
    const csv = 'email,name\r\n\r\nann@example.com,Ann\r\n,\r\n   \r\nbad,Bob\r\n';

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(recipients.map((r) => [r.fields.name, r.line])).toEqual([['Ann', 3]]);
    expect(report.rows).toBe(2);
    expect(withoutEmails(report.problems)).toEqual([
      { line: 6, kind: 'invalid', reason: 'email is not a valid address (no local part or domain)' },
    ]);
  });

  it('names the address of each invalid or duplicate row that has one, for the recipient list', () => {
    // Prepare
    const csv = 'email,name\nann@example.com,Ann\n ANN@example.com ,Again\nnot-an-email,X\n,Blank\n';

    // Act
    const { report } = parseAudience(csv, customer);

    // Assess
    expect(report.problems.map((p) => [p.line, p.kind, p.email])).toEqual([
      [3, 'duplicate', 'ANN@example.com'],
      [4, 'invalid', 'not-an-email'],
      [5, 'invalid', undefined],
    ]);
  });

  it('reports ragged rows with the number of fields expected and found', () => {
    // Prepare
    const csv = 'email,first,last\nann@example.com,Ann,Lee,extra\nbob@example.com,Bob\ncat@example.com,Cat,Ray\n';

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(withoutEmails(report.problems)).toEqual([
      { line: 2, kind: 'invalid', reason: 'expected 3 fields, found 4' },
      { line: 3, kind: 'invalid', reason: 'expected 3 fields, found 2' },
    ]);
    expect(recipients.map((r) => r.line)).toEqual([4]);
  });

  it('leaves stack traces as they were after reading malformed rows (the parse captures none for its own errors)', () => {
    // Prepare
    const before = Error.stackTraceLimit;
    const csv = 'email,name\nann@example.com,An"n\nbob@example.com,"Bob"b\ncat@example.com,Cat\n';

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(report).toMatchObject({ rows: 3, valid: 1, invalid: 2 });
    expect(recipients.map((r) => r.email)).toEqual(['cat@example.com']);
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error('after').stack).toContain('audience.test.ts');
  });

  it('reports a row with an unclosed quote and still reads every row after it', () => {
    // Prepare
    const csv = 'email,name\nann@example.com,"Ann\nbob@example.com,Bob\ncat@example.com,Cat\n';

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(withoutEmails(report.problems)).toEqual([{ line: 2, kind: 'invalid', reason: 'malformed row: a quoted field is never closed' }]);
    expect(recipients.map((r) => [r.email, r.line])).toEqual([
      ['bob@example.com', 3],
      ['cat@example.com', 4],
    ]);
    expect(report).toMatchObject({ rows: 3, valid: 2, invalid: 1 });
  });

  it('reports an unclosed quote that a later quote seems to close without losing the rows in between', () => {
    // Prepare
    const csv = 'email,name\nann@example.com,"Ann\nbob@example.com,Bob\n"cat@example.com",Cat\ndan@example.com,Dan\n';

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(report.problems.map((p) => p.line)).toEqual([2]);
    expect(recipients.map((r) => r.line)).toEqual([3, 4, 5]);
  });

  it('reports a stray quote inside an unquoted field on its own line', () => {
    // Prepare
    const csv = 'email,name\nann@example.com,Ann "the" Lee\nbob@example.com,Bob\n';

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(withoutEmails(report.problems)).toEqual([
      { line: 2, kind: 'invalid', reason: expect.stringContaining('a quote inside an unquoted field') },
    ]);
    expect(recipients.map((r) => r.line)).toEqual([3]);
  });

  it('marks later rows with the same address, ignoring case and surrounding spaces, as duplicates of the first', () => {
    // Prepare
    const csv = 'email,name\nAnn@Example.com,First\n  ann@EXAMPLE.com  ,Second\nann@example.com,Third\n';

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(recipients.map((r) => r.fields.name)).toEqual(['First']);
    expect(withoutEmails(report.problems)).toEqual([
      { line: 3, kind: 'duplicate', reason: 'duplicate of the address on line 2' },
      { line: 4, kind: 'duplicate', reason: 'duplicate of the address on line 2' },
    ]);
    expect(report).toMatchObject({ rows: 3, valid: 1, duplicate: 2 });
  });

  it('sends to the trimmed address with only the domain lower-cased and derives the id from the lower-cased address', () => {
    // Prepare
    const csv = 'email\n  Ann.Lee@Example.COM \n';

    // Act
    const [recipient] = parseAudience(csv, customer).recipients;

    // Assess
    expect(recipient!.email).toBe('Ann.Lee@example.com');
    expect(recipient!.fields.email).toBe('Ann.Lee@example.com');
    expect(recipient!.recipientId).toBe(recipientIdFor(customer, 'ann.lee@example.com'));
  });

  it.each([
    ['an empty address', '""', 'email is empty'],
    ['an address without @', 'ann.example.com', 'email is not a valid address (no local part or domain)'],
    ['an address with a space inside', '"ann lee@example.com"', 'email contains a line break, NUL, control character or whitespace'],
    [
      'an address with CR LF inside the quotes',
      '"ann@example.com\r\nBcc: eve@evil.example"',
      'email contains a line break, NUL, control character or whitespace',
    ],
    ['an address with LF inside the quotes', '"ann@exam\nple.com"', 'email contains a line break, NUL, control character or whitespace'],
    ['an address with a NUL', 'ann\u0000@example.com', 'email contains a line break, NUL, control character or whitespace'],
    ['an address over 254 characters', `${'a'.repeat(60)}@${'b'.repeat(200)}.com`, 'email is longer than 254 characters'],
    ['a unicode local part', 'jöhn@example.com', 'email is not a valid address'],
    ['two dots in a row', 'ann..lee@example.com', 'email is not a valid address'],
    ['a domain without a dot', 'ann@localhost', 'email is not a valid address'],
    ['two @ signs', 'ann@lee@example.com', 'email is not a valid address'],
  ])('reports %s as invalid and goes on', (_, email, reason) => {
    // Prepare
    const csv = `email,name\n${email},X\nok@example.com,Ok\n`;

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(withoutEmails(report.problems)).toEqual([{ line: 2, kind: 'invalid', reason }]);
    expect(recipients.map((r) => r.email)).toEqual(['ok@example.com']);
  });

  it('accepts a 9,000-character value and refuses one over 10,000 characters, naming the column', () => {
    // Prepare
    const csv = `email,Bio\nann@example.com,${'x'.repeat(9_000)}\nbob@example.com,${'y'.repeat(10_001)}\n`;

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(recipients.map((r) => [r.email, r.fields.bio!.length])).toEqual([['ann@example.com', 9_000]]);
    expect(withoutEmails(report.problems)).toEqual([{ line: 3, kind: 'invalid', reason: 'column "Bio" is longer than 10000 characters' }]);
  });

  it('passes unicode values (emoji, CJK, right-to-left, combining marks) through intact', () => {
    // Prepare
    const name = 'Zoë 😀👩‍👩‍👧 田中太郎 שָׁלוֹם مرحبا e\u0301';
    const csv = `email,name\nann@example.com,"${name}"\n`;

    // Act
    const { recipients } = parseAudience(csv, customer);

    // Assess
    expect(recipients[0]!.fields.name).toBe(name);
  });

  it.each(['E-mail', 'Email Address', 'EMAIL'])('finds the email column under the header %s', (header) => {
    // Prepare
    const csv = `name,${header}\nAnn,ann@example.com\n`;

    // Act
    const { recipients } = parseAudience(csv, customer);

    // Assess
    expect(recipients[0]!.fields).toEqual({ name: 'Ann', email: 'ann@example.com' });
  });

  it('rejects a file without an email column, naming the headers it found', async () => {
    // Prepare
    const csv = 'name,phone\nAnn,123\n';

    // Act
    const error = await caught(() => parseAudience(csv, customer));

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { where: 'audience line 1', message: expect.stringMatching(/^no email column: .*found "name", "phone"$/) },
    ]);
  });

  it('rejects an empty file', () => {
    // Act
    const act = () => parseAudience('\n\n', customer);

    // Assess
    expect(act).toThrow(/audience: is empty/);
  });

  it('rejects headers that become the same merge field', () => {
    // Act
    const act = () => parseAudience('email,First Name,first_name\n', customer);

    // Assess
    expect(act).toThrow(/both become the merge field "first_name"/);
  });

  it('counts every row exactly once and caps the listed problems at 1,000', () => {
    // Prepare
    const bad = Array.from({ length: 1_200 }, (_, i) => `not-an-address-${i}`);
    const csv = ['email', 'ann@example.com', 'ann@example.com', ...bad, 'bob@example.com'].join('\n');

    // Act
    const { recipients, report } = parseAudience(csv, customer);

    // Assess
    expect(report).toMatchObject({ rows: 1_203, valid: 2, invalid: 1_200, duplicate: 1, problemsTruncated: true });
    expect(report.rows).toBe(report.valid + report.invalid + report.duplicate);
    expect(report.problems).toHaveLength(1_000);
    expect(recipients.map((r) => r.line)).toEqual([2, 1_204]);
  });
});

/** The problems as they read without the address each may carry (tested on its own above). */
function withoutEmails<T extends { email?: string }>(problems: T[]): Omit<T, 'email'>[] {
  return problems.map(({ email: _email, ...rest }) => rest);
}

describe('AudienceParser, fed in small chunks', () => {
  afterEach(() => jest.restoreAllMocks());

  /** Bytes in every buffer Buffer.concat and Buffer.from made while `work` ran: what the read copied. */
  function bytesCopiedBy(work: () => void): number {
    const concat = jest.spyOn(Buffer, 'concat');
    const from = jest.spyOn(Buffer, 'from');
    work();
    const made = [...concat.mock.results, ...from.mock.results].map((r) => r.value as unknown);
    return made.reduce<number>((n, b) => n + (Buffer.isBuffer(b) ? b.length : 0), 0);
  }

  it('gathers a long line with each byte copied a few times, not once per chunk after it (linear, not quadratic)', () => {
    // Prepare: a 400 KB row (its field is too long to send) and a short one, 64 bytes at a time.
    const csv = Buffer.from(`email,note\nann@example.com,${'x'.repeat(400_000)}\nbob@example.com,hi\n`, 'utf8');
    const chunks = Array.from({ length: Math.ceil(csv.length / 64) }, (_, i) => csv.subarray(i * 64, (i + 1) * 64));
    const parser = new AudienceParser(customer);
    const recipients: string[] = [];

    // Act
    const copied = bytesCopiedBy(() => {
      for (const chunk of chunks) recipients.push(...parser.write(chunk).map((r) => r.email));
      recipients.push(...parser.end().map((r) => r.email));
    });

    // Assess: the same rows as the whole file gives; copying all that came before at each of the
    // 6,000-odd chunks would be about 1.3 GB, against a few times the file's 400 KB.
    expect(recipients).toEqual(['bob@example.com']);
    expect(parser.report).toEqual(parseAudience(csv.toString('utf8'), customer).report);
    expect(parser.report.problems).toEqual([expect.objectContaining({ line: 2, kind: 'invalid' })]);
    expect(copied).toBeLessThan(3 * csv.length);
  });

  it('reads a row whose CRLF is split between two chunks, and a lone CR at a chunk end, as one line break each', () => {
    // Prepare
    const parts = ['email\r', '\nann@example.com\r', 'bob@example.com\r', '\n'].map((p) => Buffer.from(p, 'utf8'));
    const parser = new AudienceParser(customer);

    // Act
    const emails = [...parts.flatMap((p) => parser.write(p)), ...parser.end()].map((r) => r.email);

    // Assess
    expect(emails).toEqual(['ann@example.com', 'bob@example.com']);
    expect(parser.report).toMatchObject({ rows: 2, valid: 2, invalid: 0 });
  });
});
