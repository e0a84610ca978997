import { useEffect, useState } from 'preact/hooks';
import { api, describe, download, enc } from './api';
import { dateTime } from './format';
import type { Suppression, SuppressionAdded, SuppressionPage } from './types';

/** The customer's suppression list: who never gets its campaigns, and why; add an address, remove a manual one. */
export function Suppressions({ customerId }: { customerId: string }) {
  const [rows, setRows] = useState<Suppression[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [note, setNote] = useState<{ text: string; bad: boolean } | null>(null);
  const base = `/customers/${enc(customerId)}/suppressions`;

  const load = async (cursor?: string) => {
    try {
      const page = await api<SuppressionPage>('GET', `${base}?limit=50${cursor ? `&cursor=${enc(cursor)}` : ''}`);
      setRows((before) => (cursor ? [...before, ...page.suppressions] : page.suppressions));
      setNext(page.next);
    } catch (err) {
      setNote({ text: describe(err), bad: true });
    }
  };
  useEffect(() => {
    void load();
  }, [customerId]);

  const add = async (ev: Event) => {
    ev.preventDefault();
    try {
      const r = await api<SuppressionAdded>('POST', base, { email: email.trim() });
      setNote({ text: r.created ? `${email.trim()} is suppressed.` : `${email.trim()} was already suppressed.`, bad: false });
      setEmail('');
      await load();
    } catch (err) {
      setNote({ text: describe(err), bad: true });
    }
  };
  const remove = async (address: string) => {
    if (!window.confirm(`Remove ${address} from the suppression list? Future campaigns of ${customerId} will email it again.`)) return;
    try {
      await api('DELETE', `${base}/${enc(address)}`);
      setNote({ text: `${address} removed.`, bad: false });
      await load();
    } catch (err) {
      setNote({ text: describe(err), bad: true });
    }
  };

  return (
    <section class="card">
      <div class="toolbar">
        <form class="inline-form" onSubmit={add}>
          <label for="suppress-email">Suppress an address</label>
          <input id="suppress-email" type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          <button type="submit">Add</button>
        </form>
        <span class="spacer" />
        <button
          type="button"
          onClick={() =>
            void download(`${base}?format=csv`, `suppressions-${customerId}.csv`).catch((e: unknown) =>
              setNote({ text: describe(e), bad: true }),
            )
          }
        >
          Download CSV
        </button>
      </div>
      <p class="muted">Addresses {customerId}'s campaigns skip: unsubscribed, bounced, complained, or added here.</p>
      {note && (
        <p class={note.bad ? 'failure' : 'ok'} role="status">
          {note.text}
        </p>
      )}
      <table class="list">
        <thead>
          <tr>
            <th>Address</th>
            <th>Reason</th>
            <th>Since</th>
            <th>Detail</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.recipientId}>
              <td>{s.email ?? '(unreadable record)'}</td>
              <td>{s.reason}</td>
              <td class="nowrap">{dateTime(s.at)}</td>
              <td>{s.detail ?? (s.campaignId ? `campaign ${s.campaignId}` : '')}</td>
              <td>
                {s.reason === 'manual' && s.email && (
                  <button type="button" class="link" onClick={() => void remove(s.email!)}>
                    Remove
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <p class="muted">Nobody is suppressed for {customerId}.</p>}
      {next && (
        <button type="button" onClick={() => void load(next)}>
          Load more
        </button>
      )}
    </section>
  );
}
