import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';

/**
 * A cell a spreadsheet shows as text. A value starting with `=`, `+`, `-`, `@`, a tab or a carriage
 * return would be read as a formula when the file is opened (CSV injection: an address such as
 * `=HYPERLINK(…)@example.com` is valid), so it gets a leading `'`, which spreadsheets hide.
 */
export function spreadsheetSafe(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/**
 * The one way the API writes CSV: RFC 4180 quoting by csv-stringify, a header row, CRLF lines, and
 * every text cell made spreadsheet-safe. Rows stream as they come.
 */
export function csvExport(columns: readonly string[], rows: AsyncIterable<readonly (string | number | null | undefined)[]>): Readable {
  const cells = async function* () {
    for await (const row of rows) yield row.map((v) => (typeof v === 'string' ? spreadsheetSafe(v) : (v ?? '')));
  };
  return Readable.from(cells()).pipe(stringify({ header: true, columns: [...columns], record_delimiter: 'windows' }));
}
