import { parse } from 'csv-parse/sync';
import { csvExport, spreadsheetSafe } from '../../src/http/csv-export';

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

async function* rows<T>(list: T[]): AsyncGenerator<T> {
  for (const r of list) yield r;
}

describe('spreadsheetSafe', () => {
  it.each(['=HYPERLINK("http://x")@example.com', '+1@example.com', '-2@example.com', '@SUM(A1)', '\tx', '\rx'])(
    'prefixes %j with a quote so no spreadsheet runs it',
    (value) => {
      expect(spreadsheetSafe(value)).toBe(`'${value}`);
    },
  );

  it.each(['ann@example.com', "'=already", 'a=b@example.com', '', '2026-12-01T00:00:00.000Z'])('leaves %j as it is', (value) => {
    expect(spreadsheetSafe(value)).toBe(value);
  });
});

describe('csvExport', () => {
  it('writes a header and CRLF rows with RFC 4180 quoting, every text cell safe, empty for null', async () => {
    const out = await text(
      csvExport(
        ['email', 'reason', 'n'],
        rows([
          ['=cmd|"/c calc"!A1@example.com', 'said "no", twice', 3],
          ['bob@example.com', null, undefined],
          ['line\nbreak@example.com', '-', 0],
        ]),
      ),
    );

    expect(out.split('\r\n')[0]).toBe('email,reason,n');
    expect(out.endsWith('\r\n')).toBe(true);
    expect(parse(out, { columns: true })).toEqual([
      { email: `'=cmd|"/c calc"!A1@example.com`, reason: 'said "no", twice', n: '3' },
      { email: 'bob@example.com', reason: '', n: '' },
      { email: 'line\nbreak@example.com', reason: "'-", n: '0' },
    ]);
  });
});
