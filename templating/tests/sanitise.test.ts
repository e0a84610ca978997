import fc from 'fast-check';
import { AudienceRecordReader, parseAudience, type AudienceRecord, type MalformedAudienceRecord } from '../src/audience';
import { addressProblem } from '../src/email-address';
import { AddressMapping, AudienceSanitiser, AudienceVerifier, SanitiseError, findAddresses, sanitiseEmailValue } from '../src/sanitise';

const QA = 'qa.example.com';
const mapping = new AddressMapping('test-secret', QA);

function sanitise(csv: string, chunkSize = csv.length + 1): { out: string; s: AudienceSanitiser } {
  const s = new AudienceSanitiser({ mapping, urlRewrites: [{ from: 'https://www.shop.example', to: 'https://qa.shop.example' }] });
  const buf = Buffer.from(csv, 'utf8');
  let out = '';
  for (let i = 0; i < buf.length; i += chunkSize) out += s.write(buf.subarray(i, i + chunkSize));
  return { out: out + s.end(), s };
}

/** The stubber's report, without the addresses it quotes (those are the sanitised ones, by design). */
function reportOf(csv: string) {
  const { report } = parseAudience(csv, 'acme');
  return { ...report, problems: report.problems.map(({ email: _email, ...problem }) => problem) };
}

const PRODUCTION = [
  'Email,First Name,Notes,Profile',
  'Ann.Lee+news@Example.com,Ann,"Wrote from <ann.lee@example.com>, cc mailto:BOB@example.com",https://www.shop.example/u/1',
  'bob@example.com,Bob,"said ""call me at bob@example.com"" twice",https://www.shop.example/u/2',
  'ANN.LEE+NEWS@example.COM,Ann again,duplicate of line 2,',
  'not-an-address,Nobody,{"contact":"carl@bücher.de","alt":"carl@xn--bcher-kva.de"},',
  'Dee <dee@example.org>,Dee,display name in the email column,',
  'eve@bücher.de,Eve,IDN in the email column,',
  'fay@example.com,Fay,ragged,row,with,extra',
  'gus@example.com,"Gus ""unclosed,quote',
  'hal@example.com,Hal,"multi',
  'line with ian@example.net inside",',
  '',
  'jo@example.com,Jo,ends here,',
].join('\r\n');

describe('AudienceSanitiser', () => {
  it('leaves no address outside the QA domain anywhere in a production-shaped file', () => {
    // Act
    const { out } = sanitise(PRODUCTION);

    // Assess
    expect(findAddresses(out).filter((a) => a.domain !== QA)).toEqual([]);
    expect(out).not.toMatch(/@(?!qa\.example\.com)|bücher|xn--/i);
    expect(out).toContain('https://qa.shop.example/u/1');
  });

  it('keeps the stubber’s view of the file: rows, valid, invalid, duplicates, reasons and lines', () => {
    // Act
    const { out } = sanitise(PRODUCTION);

    // Assess
    const before = reportOf(PRODUCTION);
    expect(reportOf(out)).toEqual(before);
    expect(before).toMatchObject({ rows: 10, invalid: 5, duplicate: 1 });
  });

  it('keeps every value that holds no address, the structure and the line breaks byte for byte', () => {
    // Act
    const { out } = sanitise(PRODUCTION);

    // Assess
    const skeleton = (text: string) => text.replace(/[\p{L}\p{M}\p{N}._'+\-@]+/gu, (run) => (run.includes('@') ? '@' : run));
    expect(skeleton(out)).toBe(skeleton(PRODUCTION).replace(/https:\/\/www\.shop\.example/g, 'https://qa.shop.example'));
    expect(out.split('\r\n')).toHaveLength(PRODUCTION.split('\r\n').length);
  });

  it('maps an address to the same QA address whatever its case, form or column, and distinct ones apart', () => {
    // Prepare
    const csv =
      'email,note\nAnn@Example.com,"ann@example.COM, <ANN@example.com>"\nann+x@example.com,carl@bücher.de carl@xn--bcher-kva.de\n';

    // Act
    const { out, s } = sanitise(csv);

    // Assess
    const found = findAddresses(out).map((a) => a.written);
    expect(new Set(found.slice(0, 3)).size).toBe(1);
    expect(found[3]).not.toBe(found[0]);
    expect(found[4]).toBe(found[5]);
    expect(s.rewritten).toEqual({ email: 2, note: 4 });
  });

  it('reads the same whatever the chunk size', () => {
    for (const size of [1, 2, 7, 64]) expect(sanitise(PRODUCTION, size).out).toBe(sanitise(PRODUCTION).out);
  });

  it('refuses a file with no email column, naming it', () => {
    expect(() => sanitise('name,notes\nAnn,ann@example.com\n')).toThrow(/no email column/);
  });

  it('refuses bytes that are not UTF-8, naming the line', () => {
    // Prepare
    const s = new AudienceSanitiser({ mapping });

    // Act and assess
    expect(() => s.write(Buffer.concat([Buffer.from('email\nann@example.com\n'), Buffer.from([0xff, 0xfe, 0x0a])]))).toThrow(
      new SanitiseError('line 3: not UTF-8 text (a binary or corrupted file?)'),
    );
  });
});

describe('sanitiseEmailValue', () => {
  const invalid = [
    '',
    'not-an-address',
    'Dee <dee@example.org>',
    'eve@bücher.de',
    `${'a'.repeat(70)}@example.com`,
    `${'x'.repeat(250)}@example.com`,
    'ann@example.com@',
    '@example.com',
    'ann..lee@example.com',
    'ann@example',
    'ann@example.com.',
  ];

  it.each(invalid)('keeps %j invalid for the same reason', (value) => {
    // Act
    const { runs } = sanitiseEmailValue(value, mapping);

    // Assess
    let i = 0;
    const out = value.replace(/[\p{L}\p{M}\p{N}._'+\-@]+/gu, () => runs[i++]!);
    expect(addressProblem(out.trim())).toBe(addressProblem(value.trim()));
    expect(findAddresses(out).filter((a) => a.domain !== QA)).toEqual([]);
  });
});

describe('AudienceVerifier', () => {
  it('names the line and column of an address outside the QA domain', () => {
    // Prepare
    const v = new AudienceVerifier(QA);

    // Act and assess
    expect(() => {
      v.write(Buffer.from(`email,note\nq1@${QA},fine\nq2@${QA},"ask mailto:real@example.com"\n`));
      v.end();
    }).toThrow(new SanitiseError(`verification failed: line 3, column "note" still holds an address outside ${QA}`));
  });
});

// ---- properties ----------------------------------------------------------------------------

const local = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9+._-]{0,8}$/);
const domain = fc.constantFrom('example.com', 'Example.COM', 'bücher.de', 'xn--bcher-kva.de', 'mail.example.org', 'localhost');
const address = fc.tuple(local, domain).map(([l, d]) => `${l}@${d}`);
const filler = fc.constantFrom('Ann', 'Lee, Ann', 'say "hi"', 'mailto:', '<', '>', ' ', 'naïve', '', '"', '\n', 'x,y', '..', "'");
const piece = fc.oneof(address, filler);
const field = fc.array(piece, { maxLength: 4 }).map((p) => p.join(''));
const quoted = (v: string) => (/[",\r\n]/.test(v) || v.startsWith(' ') ? `"${v.replace(/"/g, '""')}"` : v);
const row = fc.tuple(fc.oneof(address, field), fc.array(field, { maxLength: 3 })).map(([e, rest]) => [e, ...rest].map(quoted).join(','));
/** Well-formed rows mostly, sometimes a raw (possibly malformed) line; LF or CRLF. */
const audience = fc
  .tuple(
    fc.array(fc.oneof({ weight: 4, arbitrary: row }, { weight: 1, arbitrary: field }), { maxLength: 12 }),
    fc.constantFrom('\n', '\r\n'),
  )
  .map(([rows, eol]) => ['email,name,note', ...rows].join(eol) + eol);

describe('sanitising, for any audience', () => {
  it('leaves no address outside the QA domain and keeps the stubber’s report', () => {
    fc.assert(
      fc.property(audience, (csv) => {
        const { out } = sanitise(csv);
        expect(findAddresses(out).filter((a) => a.domain !== QA)).toEqual([]);
        expect(reportOf(out)).toEqual(reportOf(csv));
      }),
      { numRuns: 300 },
    );
  });

  it('maps equal addresses (case aside) to equal ones and distinct to distinct', () => {
    fc.assert(
      fc.property(fc.uniqueArray(address, { selector: (a) => a.toLowerCase(), maxLength: 20 }), (addresses) => {
        // In a free-text column: in the email column an IDN address is invalid and stays so.
        const csv = ['email,note', ...[...addresses, ...addresses.map((a) => a.toUpperCase())].map((a) => `,${a}`)].join('\n');
        const outs = findAddresses(sanitise(csv).out).map((a) => a.written);
        const n = addresses.length;
        expect(outs.slice(n)).toEqual(outs.slice(0, n));
        expect(new Set(outs.slice(0, n)).size).toBe(new Set(findAddresses(addresses.join(' ')).map((a) => a.normalised)).size);
      }),
    );
  });
});

describe('AudienceRecordReader, for any text and any chunking', () => {
  it('emits what a whole-file read emits, and its pieces cover the file', () => {
    const text = fc.array(fc.constantFrom('a', '"', ',', '\n', '\r', 'é', ' ', '\r\n'), { maxLength: 60 }).map((p) => p.join(''));
    fc.assert(
      fc.property(text, fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }), (csv, sizes) => {
        const read = (chunks: Buffer[]) => {
          const got: (AudienceRecord | MalformedAudienceRecord)[] = [];
          const reader = new AudienceRecordReader((r) => got.push({ ...r, raw: Buffer.from(r.raw) }));
          chunks.slice(0, -1).forEach((c) => reader.write(c));
          const tail = reader.end(chunks.at(-1));
          return { got: got.map((r) => ({ ...r, raw: r.raw.toString() })), tail: tail.toString() };
        };
        const buf = Buffer.from(csv);
        const chunks: Buffer[] = [];
        for (let i = 0, k = 0; i < buf.length; k++) {
          const n = sizes[k % sizes.length]!;
          chunks.push(buf.subarray(i, i + n));
          i += n;
        }
        chunks.push(Buffer.alloc(0));
        const whole = read([buf]);
        expect(read(chunks)).toEqual(whole);
        expect(whole.got.map((r) => r.raw).join('') + whole.tail).toBe(csv);
      }),
      { numRuns: 500 },
    );
  });
});

describe('AudienceRecordReader on a runaway quote', () => {
  it('reads a quote never closed over megabytes the same in 64 KiB chunks as whole, and goes on after it', () => {
    // Prepare: an unclosed quote on line 3, then 20,000 lines (1.1 MB, past MAX_RECORD_LENGTH) without another quote
    const lines = ['email,note', 'ann@example.com,fine', 'bob@example.com,"never closed'];
    for (let i = 0; i < 20_000; i++) lines.push(`r${i}@example.com,${'x'.repeat(40)}`);
    const buf = Buffer.from(lines.join('\n') + '\n');
    const read = (chunkSize: number) => {
      const got: { line: number; kind: string }[] = [];
      const reader = new AudienceRecordReader((r) => got.push({ line: r.line, kind: 'fields' in r ? 'record' : r.reason }));
      for (let i = 0; i < buf.length; i += chunkSize) reader.write(buf.subarray(i, i + chunkSize));
      reader.end();
      return got;
    };

    // Act
    const whole = read(buf.length);
    const chunked = read(65_536);

    // Assess
    expect(chunked).toEqual(whole);
    expect(whole.slice(0, 4)).toEqual([
      { line: 1, kind: 'record' },
      { line: 2, kind: 'record' },
      { line: 3, kind: expect.stringMatching(/^malformed row/) },
      { line: 4, kind: 'record' },
    ]);
    expect(whole).toHaveLength(20_003);
  });
});

describe('AudienceRecordReader, streaming, on a line that never ends', () => {
  it('refuses more than 4 MiB without a line break, naming the line, rather than holding it', () => {
    // Prepare
    const reader = new AudienceRecordReader(() => undefined);
    reader.write(Buffer.from('email\nann@example.com\n'));

    // Act and assess
    expect(() => {
      for (let i = 0; i < 70; i++) reader.write(Buffer.alloc(65_536, 0x61));
    }).toThrow('audience line 3: runs past 4194304 bytes without a line break (a binary or corrupted file?)');
  });
});
