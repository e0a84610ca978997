import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describe, download, enc } from './api';
import { COUNT_LABEL, ROW_LABEL, dateTime, plural } from './format';
import { useDebounced } from './hooks';
import { COUNT_KEYS, type Campaign, type CountKey, type RecipientRow, type RecipientsPage, type RequeueReport } from './types';

const PAGE = 50;

/** Who is where: the recipient list by status and by address (searched by the server), paged, as CSV; retry and resend. */
export function Recipients({ campaign, refresh }: { campaign: Campaign; refresh: () => Promise<void> }) {
  const [status, setStatus] = useState<CountKey | ''>('');
  const [rows, setRows] = useState<RecipientRow[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  /** The search as sent: the box's text once it stopped changing. */
  const [q, setQ] = useState('');
  useDebounced(search.trim(), 250, setQ);
  /** Answers to an older listing (another status or search) are dropped. */
  const asked = useRef(0);
  const [error, setError] = useState('');
  const [note, setNote] = useState<{ text: string; bad: boolean } | null>(null);
  const [loading, setLoading] = useState(false);
  const k = campaign.counts;
  const base = `/campaigns/${enc(campaign.id)}/recipients`;
  const filters = `${status ? `&status=${status}` : ''}${q ? `&q=${enc(q)}` : ''}`;
  const query = (cursor?: string) => `${base}?limit=${PAGE}${filters}${cursor ? `&cursor=${enc(cursor)}` : ''}`;

  const load = async (cursor?: string) => {
    const mine = ++asked.current;
    setLoading(true);
    try {
      const page = await api<RecipientsPage>('GET', query(cursor));
      if (mine !== asked.current) return;
      setRows((before) => (cursor ? [...before, ...page.recipients] : page.recipients));
      setNext(page.next);
      setError('');
    } catch (err) {
      if (mine === asked.current) setError(describe(err));
    } finally {
      if (mine === asked.current) setLoading(false);
    }
  };
  useEffect(() => {
    void load();
  }, [campaign.id, status, q]);

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
      const name = await download(`${base}?format=csv${filters}`, `${campaign.id}-recipients.csv`);
      setNote({ text: `Downloaded ${name}.`, bad: false });
    } catch (err) {
      setNote({ text: `No download: ${describe(err)}`, bad: true });
    }
  };

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
          Search <input type="search" value={search} placeholder="part of an address" onInput={(e) => setSearch(e.currentTarget.value)} />
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
          {rows.map((r, i) => (
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
        {rows.length === 0 && !loading && !next
          ? q
            ? `Nobody whose address contains “${q}”.`
            : 'Nobody here.'
          : `${plural(rows.length, 'recipient', 'recipients')} ${q ? 'found' : 'shown'}${next ? ' so far' : ' (all)'}.`}
      </p>
      {next && (
        <button type="button" disabled={loading} onClick={() => void load(next)}>
          {q ? 'Search further' : `Load ${PAGE} more`}
        </button>
      )}
    </section>
  );
}
