import { readFileSync } from 'node:fs';
import type { ImportResult, SuppressionAdded, SuppressionPage } from '@baton/shared';
import type { ApiClient } from './api-client';

/** Bad arguments for a suppressions command: the caller reports them with the usage text. */
export type Refuse = (message: string) => never;

export const SUPPRESSIONS_USAGE = `  baton suppressions list [--customer ID] [--csv]
  baton suppressions add EMAIL [--customer ID]
  baton suppressions remove EMAIL [--customer ID]      (manual suppressions only)
  baton suppressions import FILE.csv [--customer ID]   (an email column, like an audience)`;

/**
 * `baton suppressions …`: a customer's suppression list (addresses none of its campaigns will
 * mail), through `/api/customers/:customer/suppressions`.
 */
export async function suppressionsCommand(
  api: ApiClient,
  args: { action: string | undefined; operand: string | undefined; customer: string; csv: boolean },
  out: NodeJS.WritableStream,
  refuse: Refuse,
): Promise<number> {
  const base = `/api/customers/${encodeURIComponent(args.customer)}/suppressions`;
  switch (args.action) {
    case 'list': {
      if (args.csv) {
        out.write(await api.text('GET', `${base}?format=csv`));
        return 0;
      }
      let count = 0;
      for (let cursor: string | null | undefined; cursor !== null;) {
        const page = await api.request<SuppressionPage>('GET', `${base}?limit=1000${cursor !== undefined ? `&cursor=${cursor}` : ''}`);
        for (const s of page.suppressions) out.write(`${s.email ?? `(recipient ${s.recipientId})`}\t${s.reason}\t${s.at ?? ''}\n`);
        count += page.suppressions.length;
        cursor = page.next;
      }
      out.write(`${count} suppressed for ${args.customer}\n`);
      return 0;
    }
    case 'add': {
      if (!args.operand) return refuse('suppressions add needs an email address');
      const r = await api.request<SuppressionAdded>('POST', base, { email: args.operand });
      out.write(r.created ? `suppressed ${r.email} (manual)\n` : `${r.email} was already suppressed (${r.reason})\n`);
      return 0;
    }
    case 'remove': {
      if (!args.operand) return refuse('suppressions remove needs an email address');
      await api.request('DELETE', `${base}/${encodeURIComponent(args.operand)}`);
      out.write(`removed the manual suppression of ${args.operand}\n`);
      return 0;
    }
    case 'import': {
      if (!args.operand) return refuse('suppressions import needs a CSV file');
      let csv: string;
      try {
        csv = readFileSync(args.operand, 'utf8');
      } catch (err) {
        return refuse(`${args.operand}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
      }
      const r = await importInParts(api, `${base}/import`, csv);
      out.write(
        `imported ${args.operand}: ${r.added} suppressed, ${r.alreadySuppressed} already suppressed, ${r.invalid} invalid, ${r.duplicate} duplicate (of ${r.rows} rows)\n`,
      );
      for (const p of r.problems.slice(0, 10)) out.write(`  line ${p.line}: ${p.kind}: ${p.reason}\n`);
      if (r.problems.length > 10) out.write(`  … and ${r.problems.length - 10} more problems\n`);
      return 0;
    }
    default:
      return refuse(`suppressions needs list, add, remove or import${args.action ? ` (not ${JSON.stringify(args.action)})` : ''}`);
  }
}

/** What the API takes in one import (its limit is 1 MiB, JSON quoting included). */
const PART_BYTES = 512 * 1024;

/**
 * Sends a large CSV as several imports of whole lines, each with the header, and adds up the
 * answers (problem lines renumbered to the file's). A quoted field spanning lines is not split
 * correctly: addresses never hold one.
 */
async function importInParts(api: ApiClient, route: string, csv: string): Promise<ImportResult> {
  const lines = csv.split(/\r?\n/);
  const header = lines[0] ?? '';
  const total: ImportResult = { rows: 0, added: 0, alreadySuppressed: 0, invalid: 0, duplicate: 0, problems: [] };
  let start = 1;
  while (start < lines.length || start === 1) {
    let end = start;
    let size = header.length;
    while (end < lines.length && (end === start || size + lines[end]!.length + 1 <= PART_BYTES)) size += lines[end++]!.length + 1;
    const part = [header, ...lines.slice(start, end)].join('\n');
    const r = await api.request<ImportResult>('POST', route, { csv: part });
    total.rows += r.rows;
    total.added += r.added;
    total.alreadySuppressed += r.alreadySuppressed;
    total.invalid += r.invalid;
    total.duplicate += r.duplicate;
    // Line 2 of a part is line `start + 1` of the file.
    total.problems.push(...r.problems.map((p) => ({ ...p, line: p.line + start - 1 })));
    if (end >= lines.length) break;
    start = end;
  }
  return total;
}
