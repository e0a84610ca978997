import { parseRecipientStatus, type RecipientRow, type RecipientsPage, type RecipientStatus } from '@baton/shared';
import type { ApiClient } from './api-client';

const PAGE = 500;

/** `baton recipients ID [--status S] [--csv]`: every recipient and where it is, a page at a time (or the server's CSV, streamed). */
export async function recipientsCommand(
  api: ApiClient,
  id: string,
  options: { status?: string; csv?: boolean },
  out: NodeJS.WritableStream,
): Promise<number> {
  const status = options.status === undefined ? undefined : parseRecipientStatus(options.status, '--status');
  const query = status ? `&status=${status}` : '';
  if (options.csv) {
    await api.stream(`/api/campaigns/${encodeURIComponent(id)}/recipients?format=csv${query}`, out);
    return 0;
  }
  let n = 0;
  for await (const row of rows(api, id, status)) {
    out.write(line(row) + '\n');
    n++;
  }
  out.write(`${n} recipient${n === 1 ? '' : 's'}${status ? ` ${status}` : ''}\n`);
  return 0;
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

async function* rows(api: ApiClient, id: string, status: RecipientStatus | undefined): AsyncGenerator<RecipientRow> {
  let cursor: string | null = null;
  do {
    const qs = new URLSearchParams({ limit: String(PAGE), ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
    const page: RecipientsPage = await api.request<RecipientsPage>('GET', `/api/campaigns/${encodeURIComponent(id)}/recipients?${qs}`);
    yield* page.recipients;
    cursor = page.next;
  } while (cursor);
}

function line(r: RecipientRow): string {
  return [r.email ?? '(no address)', r.status, r.at ?? '', r.providerMessageId ?? '', r.reason ?? ''].join('\t').trimEnd();
}
