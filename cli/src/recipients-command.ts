import { parseRecipientStatus, type RecipientRow, type RecipientsPage, type RecipientStatus } from '@baton/shared';
import type { ApiClient } from './api-client';
import { UsageError } from './usage-error';

const PAGE = 500;

/** What `baton recipients` narrows the list to: a status, and a part of the address (any case). */
interface Filter {
  status?: RecipientStatus;
  q?: string;
}

/**
 * `baton recipients ID [--status S] [--search TEXT] [--csv]`: every recipient and where it is, a
 * page at a time (or the server's CSV, streamed), narrowed by the API's own filters.
 */
export async function recipientsCommand(
  api: ApiClient,
  id: string,
  options: { status?: string; search?: string; csv?: boolean },
  out: NodeJS.WritableStream,
): Promise<number> {
  const filter: Filter = {
    ...(options.status === undefined ? {} : { status: parseRecipientStatus(options.status, '--status') }),
    ...(options.search === undefined ? {} : { q: searchText(options.search) }),
  };
  if (options.csv) {
    const qs = new URLSearchParams({ format: 'csv', ...filter });
    await api.stream(`/api/campaigns/${encodeURIComponent(id)}/recipients?${qs}`, out);
    return 0;
  }
  let n = 0;
  for await (const row of rows(api, id, filter)) {
    out.write(line(row) + '\n');
    n++;
  }
  const matching = filter.q === undefined ? '' : ` matching ${JSON.stringify(filter.q)}`;
  out.write(`${n} recipient${n === 1 ? '' : 's'}${filter.status ? ` ${filter.status}` : ''}${matching}\n`);
  return 0;
}

function searchText(given: string): string {
  const text = given.trim();
  if (text === '') throw new UsageError('--search needs some text to look for in the addresses');
  return text;
}

/**
 * What `send --wait` ends with: the failed, in-doubt and not-accepted recipients, at most `cap`
 * of each, and where to find the rest.
 */
export async function troubleReport(api: ApiClient, id: string, out: NodeJS.WritableStream, cap = 10): Promise<void> {
  for (const [status, flag] of [
    ['failed', 'failed'],
    ['inDoubt', 'in-doubt'],
    ['notAccepted', 'not-accepted'],
  ] as const) {
    const page = await api.request<RecipientsPage>(
      'GET',
      `/api/campaigns/${encodeURIComponent(id)}/recipients?status=${status}&limit=${cap}`,
    );
    if (page.recipients.length === 0) continue;
    out.write(`${flag}:\n`);
    for (const row of page.recipients) out.write(`  ${line(row)}\n`);
    if (page.next) out.write(`  … and more: baton recipients ${id} --status ${flag} (or --csv)\n`);
  }
}

async function* rows(api: ApiClient, id: string, filter: Filter): AsyncGenerator<RecipientRow> {
  let cursor: string | null = null;
  do {
    // A search may answer a short (even empty) page with a `next`: the server examines a bounded
    // number of recipients per page. Follow `next` until it is null.
    const qs = new URLSearchParams({ limit: String(PAGE), ...filter, ...(cursor ? { cursor } : {}) });
    const page: RecipientsPage = await api.request<RecipientsPage>('GET', `/api/campaigns/${encodeURIComponent(id)}/recipients?${qs}`);
    yield* page.recipients;
    cursor = page.next;
  } while (cursor);
}

function line(r: RecipientRow): string {
  return [r.email ?? '(no address)', r.status, r.at ?? '', r.providerMessageId ?? '', r.reason ?? ''].join('\t').trimEnd();
}
