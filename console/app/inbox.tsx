import { useState } from 'preact/hooks';
import { ApiError, api, describe, enc } from './api';
import { clock, dateTime } from './format';
import { usePoll } from './hooks';
import type { InboxMessage, InboxPage } from './types';

const PAGE = 25;

/** What the built-in Mailgun stand-in received (local composition only): every message, paged, each one openable. */
export function Inbox({ campaignId }: { campaignId: string }) {
  const [onlyThis, setOnlyThis] = useState(true);
  const [q, setQ] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const [page, setPage] = useState<InboxPage | null>(null);
  const [error, setError] = useState('');
  const [open, setOpen] = useState<InboxMessage | null>(null);
  const cursor = cursors[cursors.length - 1];

  usePoll(
    async (alive) => {
      const params = new URLSearchParams({ limit: String(PAGE) });
      if (onlyThis) params.set('campaignId', campaignId);
      if (q.trim()) params.set('q', q.trim());
      if (cursor) params.set('cursor', cursor);
      try {
        const r = await api<InboxPage>('GET', `/local/inbox?${params}`);
        if (!alive()) return;
        setPage(r);
        setError('');
      } catch (err) {
        if (alive())
          setError(
            err instanceof ApiError && err.status === 404 ? 'This Baton has no local inbox (it sends through Mailgun).' : describe(err),
          );
      }
    },
    2000,
    [campaignId, onlyThis, q, cursor],
  );

  const show = async (id: string) => {
    try {
      setOpen(await api<InboxMessage>('GET', `/local/inbox/${enc(id)}`));
    } catch (err) {
      setError(describe(err));
    }
  };

  return (
    <div class={`inbox ${open ? 'with-message' : ''}`}>
      <section class="card">
        <p class="muted">What Baton's built-in stand-in for Mailgun received; nothing leaves this machine.</p>
        <div class="toolbar">
          <label class="inline-label">
            <input type="checkbox" checked={onlyThis} onChange={(e) => (setOnlyThis(e.currentTarget.checked), setCursors([]))} /> This
            campaign only
          </label>
          <label class="inline-label">
            Search{' '}
            <input
              type="search"
              value={q}
              placeholder="address or subject"
              onInput={(e) => (setQ(e.currentTarget.value), setCursors([]))}
            />
          </label>
          <span class="spacer" />
          <span class="muted">{page ? `${page.total.toLocaleString('en')} messages` : ''}</span>
        </div>
        {error && <p class="failure">{error}</p>}
        <table class="list">
          <thead>
            <tr>
              <th>To</th>
              <th>Subject</th>
              <th>Received</th>
            </tr>
          </thead>
          <tbody>
            {(page?.messages ?? []).map((m) => (
              <tr key={m.id} class={open?.id === m.id ? 'selected' : ''}>
                <td>{m.to}</td>
                <td>
                  <button type="button" class="link" onClick={() => void show(m.id)}>
                    {m.subject}
                  </button>
                </td>
                <td class="nowrap">{clock(m.receivedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && page.messages.length === 0 && <p class="muted">No messages yet.</p>}
        <div class="pager">
          <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
            Newer
          </button>
          <button type="button" disabled={!page?.next} onClick={() => page?.next && setCursors([...cursors, page.next])}>
            Older
          </button>
        </div>
      </section>
      {open && (
        <section class="card message" aria-label="Message">
          <div class="row">
            <h3>{open.subject}</h3>
            <button type="button" onClick={() => setOpen(null)}>
              Close message
            </button>
          </div>
          <dl class="headers">
            <dt>From</dt>
            <dd>{open.from}</dd>
            <dt>To</dt>
            <dd>{open.to}</dd>
            <dt>Received</dt>
            <dd>{dateTime(open.receivedAt)}</dd>
          </dl>
          <iframe class="preview" sandbox="" title="The message as received" srcdoc={open.html} />
          <details>
            <summary>Headers</summary>
            <table class="list">
              <tbody>
                {Object.entries(open.headers).map(([name, value]) => (
                  <tr key={name}>
                    <th>{name}</th>
                    <td>{value}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
          <details>
            <summary>Text version</summary>
            <pre class="text">{open.text}</pre>
          </details>
        </section>
      )}
    </div>
  );
}
