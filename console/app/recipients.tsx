import { useEffect, useState } from 'preact/hooks';
import { api, describe, download, enc } from './api';
import { COUNT_LABEL, ROW_LABEL, dateTime, plural } from './format';
import { COUNT_KEYS, type Campaign, type CountKey, type RecipientRow, type RecipientsPage, type RequeueReport } from './types';

const PAGE = 50;

/** Who is where: the recipient list by status, paged, filtered as you type, as CSV; retry and resend. */
export function Recipients({ campaign, refresh }: { campaign: Campaign; refresh: () => Promise<void> }) {
  const [status, setStatus] = useState<CountKey | ''>('');
  const [rows, setRows] = useState<RecipientRow[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  const [error, setError] = useState('');
  const [note, setNote] = useState<{ text: string; bad: boolean } | null>(null);
  const [loading, setLoading] = useState(false);
  const k = campaign.counts;
  const base = `/campaigns/${enc(campaign.id)}/recipients`;
  const query = (cursor?: string) => `${base}?limit=${PAGE}${status ? `&status=${status}` : ''}${cursor ? `&cursor=${enc(cursor)}` : ''}`;

  const load = async (cursor?: string) => {
    setLoading(true);
    try {
      const page = await api<RecipientsPage>('GET', query(cursor));
      setRows((before) => (cursor ? [...before, ...page.recipients] : page.recipients));
      setNext(page.next);
      setError('');
    } catch (err) {
      setError(describe(err));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load();
  }, [campaign.id, status]);

  const requeue = async (path: string, body: unknown, ask: string) => {
    if (!window.confirm(ask)) return;
    try {
      const r = await api<RequeueReport>('POST', `/campaigns/${enc(campaign.id)}${path}`, body);
      setNote({
        text: `${plural(r.requeued, 'recipient', 'recipients')} put back in the queue${r.skipped.length ? `, ${r.skipped.length} left alone` : ''}.`,
        bad: false,
      });
      await refresh();
      await load();
    } catch (err) {
      setNote({ text: describe(err), bad: true });
    }
  };
  const csv = async () => {
    try {
      const name = await download(`${base}?format=csv${status ? `&status=${status}` : ''}`, `${campaign.id}-recipients.csv`);
      setNote({ text: `Downloaded ${name}.`, bad: false });
    } catch (err) {
      setNote({ text: `No download: ${describe(err)}`, bad: true });
    }
  };

  const needle = search.trim().toLowerCase();
  const shown = needle ? rows.filter((r) => `${r.email ?? ''} ${r.reason ?? ''}`.toLowerCase().includes(needle)) : rows;
  return (
    <section class="card">
      <div class="toolbar">
        <label class="inline-label">
          Status{' '}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as CountKey | '')}>
            <option value="">All ({k.total.toLocaleString('en')})</option>
            {COUNT_KEYS.map((key) => (
              <option key={key} value={key}>
                {COUNT_LABEL[key]} ({(k[key] ?? 0).toLocaleString('en')})
              </option>
            ))}
          </select>
        </label>
        <label class="inline-label">
          Search <input type="search" value={search} placeholder="address or reason" onInput={(e) => setSearch(e.currentTarget.value)} />
        </label>
      </div>
      <div class="toolbar">
        <button type="button" onClick={() => void csv()}>
          Download CSV
        </button>
        <button
          type="button"
          disabled={k.failed === 0}
          onClick={() =>
            void requeue(
              '/retry',
              undefined,
              `Retry the ${plural(k.failed, 'failed recipient', 'failed recipients')}? They go back in the queue.`,
            )
          }
        >
          Retry failed ({k.failed})
        </button>
        <button
          type="button"
          disabled={k.notAccepted === 0}
          onClick={() =>
            void requeue(
              '/resend',
              { status: 'notAccepted' },
              `Send again to the ${plural(k.notAccepted, 'recipient', 'recipients')} the provider has no record of?`,
            )
          }
        >
          Resend not accepted ({k.notAccepted})
        </button>
      </div>
      {note && (
        <p class={note.bad ? 'failure' : 'ok'} role="status">
          {note.text}
        </p>
      )}
      {error && <p class="failure">{error}</p>}
      <table class="list">
        <thead>
          <tr>
            <th>Address</th>
            <th>Status</th>
            <th>Reason</th>
            <th>When</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r, i) => (
            <tr key={`${r.email}-${i}`}>
              <td>{r.email ?? '(no address)'}</td>
              <td>
                <span class={`chip ${r.status}`}>{ROW_LABEL[r.status] ?? r.status}</span>
              </td>
              <td>{r.reason ?? ''}</td>
              <td class="nowrap">{dateTime(r.at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">
        {rows.length === 0 && !loading ? 'Nobody here.' : `${shown.length} shown of ${rows.length} loaded${next ? '' : ' (all)'}.`}{' '}
        {needle && next ? 'The search looks at the loaded rows; load more to search further.' : ''}
      </p>
      {next && (
        <button type="button" disabled={loading} onClick={() => void load(next)}>
          Load {PAGE} more
        </button>
      )}
    </section>
  );
}
