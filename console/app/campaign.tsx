import { useEffect, useState } from 'preact/hooks';
import { api, describe, enc } from './api';
import { Bar, recipientsOf } from './campaign-list';
import { RateChart } from './chart';
import { COUNT_LABEL, COUNT_MEANING, STATUS_LABEL, clock, dateTime, duration, isoFromLocalInput, plural } from './format';
import { Inbox } from './inbox';
import { PreviewAndTest } from './preview';
import { Recipients } from './recipients';
import { Suppressions } from './suppressions';
import { COUNT_KEYS, type Campaign, type Definition, type Setup } from './types';

type Tab = 'progress' | 'preview' | 'recipients' | 'suppressions' | 'inbox';

const ACTION_VERB: Record<string, string> = {
  send: 'send',
  pause: 'pause',
  resume: 'resume',
  cancel: 'cancel',
  delete: 'delete',
  schedule: 'schedule',
};

/** One campaign: what it is doing, the buttons to act on it, and its tabs. */
export function CampaignPanel(props: {
  campaign: Campaign;
  setup: Setup | null;
  refresh: () => Promise<void>;
  onClone: (from: Definition) => void;
  onDeleted: () => void;
}) {
  const c = props.campaign;
  const [tab, setTab] = useState<Tab>(c.status === 'draft' || c.status === 'scheduled' ? 'preview' : 'progress');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ text: string; bad: boolean } | null>(null);
  const [scheduling, setScheduling] = useState(false);
  const [sendAt, setSendAt] = useState('');
  const local = props.setup?.local ?? true;
  useEffect(() => setMessage((m) => (m?.bad ? m : null)), [c.status]);

  const act = async (what: keyof typeof ACTION_VERB, run: () => Promise<unknown>, ask?: string, done?: string) => {
    if (ask && !window.confirm(ask)) return;
    setBusy(true);
    setMessage(null);
    try {
      await run();
      if (done) setMessage({ text: done, bad: false });
      await props.refresh();
    } catch (err) {
      setMessage({ text: `Could not ${ACTION_VERB[what]} "${c.name}": ${describe(err)}`, bad: true });
    } finally {
      setBusy(false);
    }
  };
  const post = (path: string, body?: unknown) => () => api('POST', `/campaigns/${enc(c.id)}${path}`, body);

  const clone = async () => {
    try {
      props.onClone(await api<Definition>('GET', `/campaigns/${enc(c.id)}/definition`));
    } catch (err) {
      setMessage({ text: `Could not clone "${c.name}": ${describe(err)}`, bad: true });
    }
  };
  const schedule = async (ev: Event) => {
    ev.preventDefault();
    const at = isoFromLocalInput(sendAt);
    if (!at) return;
    await act(
      'schedule',
      c.status === 'scheduled' ? () => api('PATCH', `/campaigns/${enc(c.id)}`, { sendAt: at }) : post('/send', { at }),
      undefined,
      `Scheduled for ${dateTime(at)}.`,
    );
    setScheduling(false);
  };

  const s = c.status;
  const canSend = s === 'draft' || s === 'scheduled';
  const live = s === 'sending' || s === 'paused';
  return (
    <article class="campaign-panel" aria-labelledby="campaign-title">
      <div class="title-row">
        <div>
          <h2 id="campaign-title">
            {c.name} <span class={`status ${s}`}>{STATUS_LABEL[s] ?? s}</span>
          </h2>
          <p class="muted">
            Subject: {c.subject} · {c.customerId} via {c.sendingDomain} · created {dateTime(c.createdAt)}
          </p>
        </div>
        <div class="actions">
          {canSend && (
            <button
              type="button"
              class="primary"
              disabled={busy}
              onClick={() =>
                void act(
                  'send',
                  post('/send'),
                  `Send "${c.name}" now? Everyone in its audience will get this email.`,
                  'Sending has started.',
                )
              }
            >
              Send campaign
            </button>
          )}
          {canSend && (
            <button type="button" disabled={busy} onClick={() => setScheduling(!scheduling)} aria-expanded={scheduling}>
              {s === 'scheduled' ? 'Reschedule' : 'Schedule'}
            </button>
          )}
          {s === 'sending' && (
            <button
              type="button"
              disabled={busy}
              title="No new send starts after the click; sends already handed to a worker finish"
              onClick={() => void act('pause', post('/pause'))}
            >
              Pause
            </button>
          )}
          {s === 'paused' && (
            <button
              type="button"
              class="primary"
              disabled={busy}
              onClick={() => void act('resume', post('/resume'), undefined, 'Resumed.')}
            >
              Resume
            </button>
          )}
          {(s === 'scheduled' || live) && (
            <button
              type="button"
              class="danger"
              disabled={busy}
              onClick={() =>
                void act('cancel', post('/cancel'), `Cancel "${c.name}"? People not sent to yet will not get it. This cannot be undone.`)
              }
            >
              Cancel
            </button>
          )}
          <button type="button" disabled={busy} onClick={() => void clone()}>
            Clone
          </button>
          {s === 'draft' && (
            <button
              type="button"
              class="danger"
              disabled={busy}
              onClick={() =>
                void act(
                  'delete',
                  async () => {
                    await api('DELETE', `/campaigns/${enc(c.id)}`);
                    props.onDeleted();
                  },
                  `Delete the draft "${c.name}"? Its template and audience are removed.`,
                )
              }
            >
              Delete
            </button>
          )}
        </div>
      </div>
      {scheduling && (
        <form class="card schedule" onSubmit={schedule}>
          <label for="schedule-at">Send at</label>
          <input id="schedule-at" type="datetime-local" required value={sendAt} onInput={(e) => setSendAt(e.currentTarget.value)} />
          <button type="submit" class="primary" disabled={busy}>
            Schedule send
          </button>
          <button type="button" onClick={() => setScheduling(false)}>
            Close
          </button>
          <span class="muted">In this browser's time zone ({Intl.DateTimeFormat().resolvedOptions().timeZone}).</span>
        </form>
      )}
      {message && (
        <p class={message.bad ? 'failure' : 'note ok'} role={message.bad ? 'alert' : 'status'}>
          {message.text}
        </p>
      )}
      <Notes campaign={c} />
      <nav class="tabs" role="tablist" aria-label="Campaign sections">
        {(
          [
            ['progress', 'Progress'],
            ['preview', 'Preview and test'],
            ['recipients', 'Recipients'],
            ['suppressions', 'Suppressions'],
            ...(local ? [['inbox', 'Local inbox']] : []),
          ] as [Tab, string][]
        ).map(([id, label]) => (
          <button key={id} type="button" role="tab" aria-selected={tab === id} class="tab" onClick={() => setTab(id)}>
            {label}
          </button>
        ))}
      </nav>
      <div role="tabpanel">
        {tab === 'progress' && <Progress campaign={c} />}
        {tab === 'preview' && <PreviewAndTest campaign={c} local={local} />}
        {tab === 'recipients' && <Recipients campaign={c} refresh={props.refresh} />}
        {tab === 'suppressions' && <Suppressions customerId={c.customerId} />}
        {tab === 'inbox' && <Inbox campaignId={c.id} />}
      </div>
    </article>
  );
}

/** What the campaign is waiting for, what a pause still lets through, and what needs someone's attention. */
function Notes({ campaign: c }: { campaign: Campaign }) {
  const k = c.counts;
  const notes: { text: string; kind: 'note' | 'failure' }[] = [];
  if (c.error) notes.push({ text: `This campaign failed: ${c.error.message} (${c.error.code})`, kind: 'failure' });
  if (c.status === 'draft')
    notes.push({ text: 'Not sent yet. Check the preview, send yourself a test, then click Send campaign.', kind: 'note' });
  if (c.pause) notes.push({ text: c.pause.message, kind: 'note' });
  else if (c.status === 'paused') notes.push({ text: 'Paused: click Resume to go on.', kind: 'note' });
  if (c.waiting) notes.push({ text: waitingText(c.waiting), kind: 'note' });
  if (c.status === 'cancelled')
    notes.push({
      text: c.finishedAt
        ? `Cancelled at ${clock(c.finishedAt)}. Nobody else will get this email.`
        : 'Cancelled: nobody else will get this email; the sends already with a worker are finishing.',
      kind: 'note',
    });
  if (c.status === 'done') {
    let text = `Finished${c.finishedAt ? ` at ${clock(c.finishedAt)}` : ''}.`;
    if (k.inDoubt)
      text += ` ${plural(k.inDoubt, 'recipient is', 'recipients are')} in doubt: Baton asks the provider about them and never resends them on its own.`;
    if (k.notAccepted)
      text += ` The provider never took ${plural(k.notAccepted, 'recipient', 'recipients')}: Resend not accepted (Recipients) sends to them again.`;
    notes.push({ text, kind: 'note' });
  }
  if (c.attention.length > 0)
    notes.push({
      text: `Needs attention: ${c.attention.map((a) => `${a.key} cannot be read (${a.reason})`).join('; ')}. The rest of the campaign goes on; nobody is sent twice.`,
      kind: 'failure',
    });
  if (c.complaints?.warning)
    notes.push({
      text: `Spam complaints: ${c.complaints.warning}. Complainers are suppressed; check who this campaign went to.`,
      kind: 'failure',
    });
  return (
    <>
      {notes.map((n, i) => (
        <p key={i} class={n.kind} role="status">
          {n.text}
        </p>
      ))}
    </>
  );
}

/** What a campaign waits for, with the time in this browser's zone (the API's message names it in UTC). */
export function waitingText(w: NonNullable<Campaign['waiting']>): string {
  if (w.reason === 'scheduled') return `Scheduled: sending starts ${dateTime(w.until)}. Send campaign starts it now instead.`;
  return `${w.message} (until ${dateTime(w.until)} here).`;
}

function Progress({ campaign: c }: { campaign: Campaign }) {
  const k = c.counts;
  if (c.status === 'draft' || (c.status === 'scheduled' && k.total === 0)) {
    return (
      <div class="empty">
        <h2>Nothing sent yet</h2>
        <p>The counts and the chart of sends against the cap appear here once sending starts.</p>
        {c.problems.length > 0 && <AudienceProblems campaign={c} />}
      </div>
    );
  }
  const sum = COUNT_KEYS.reduce((n, key) => n + (k[key] ?? 0), 0);
  const sending = c.status === 'sending';
  let eta = '';
  if (sending) {
    if (c.etaSeconds === 0) eta = 'finishing';
    else if (c.etaSeconds != null) eta = `about ${duration(c.etaSeconds)}`;
    else eta = 'estimating…';
  }
  return (
    <div class="progress">
      <div class="summary">
        <div>
          <span class="big">
            {k.sent.toLocaleString('en')} of {plural(recipientsOf(c), 'recipient', 'recipients')} sent
          </span>
          {k.invalid + k.duplicate > 0 && (
            <span class="muted small block">
              {plural(k.invalid + k.duplicate, 'audience row', 'audience rows')} skipped: see Audience problems below
            </span>
          )}
          <Bar campaign={c} />
        </div>
        <dl class="facts">
          <div>
            <dt>Time left</dt>
            <dd>{eta || '—'}</dd>
          </div>
          <div>
            <dt>Sent in the last minute</dt>
            <dd>{c.sentLastMinute.toLocaleString('en')}</dd>
          </div>
          <div>
            <dt>Cap</dt>
            <dd>{c.cap?.text ?? '—'}</dd>
          </div>
          {c.effectiveCap && c.cap && c.effectiveCap.perWindow < c.cap.perWindow && (
            <div>
              <dt>After the provider pushed back</dt>
              <dd class="warn-text">{c.effectiveCap.text}</dd>
            </div>
          )}
        </dl>
      </div>
      <dl class="tiles" aria-label="Where every recipient stands">
        {COUNT_KEYS.map((key) => (
          <div key={key} class={`tile ${key}`} title={COUNT_MEANING[key]}>
            <dt>{COUNT_LABEL[key]}</dt>
            <dd data-count={key}>{(k[key] ?? 0).toLocaleString('en')}</dd>
          </div>
        ))}
        <div class="tile total">
          <dt>Total</dt>
          <dd data-count="total">{k.total.toLocaleString('en')}</dd>
        </div>
      </dl>
      {sum !== k.total && k.total > 0 && (
        <p class="muted">
          The counts above add up to {sum.toLocaleString('en')} while the audience is still being read ({k.total.toLocaleString('en')} so
          far).
        </p>
      )}
      <details class="meanings">
        <summary>What do these numbers mean?</summary>
        <ul>
          {COUNT_KEYS.map((key) => (
            <li key={key}>
              <strong>{COUNT_LABEL[key]}</strong>: {COUNT_MEANING[key]}
            </li>
          ))}
        </ul>
      </details>
      <RateChart campaign={c} />
      {c.problems.length > 0 && <AudienceProblems campaign={c} />}
    </div>
  );
}

function AudienceProblems({ campaign: c }: { campaign: Campaign }) {
  const shown = c.problems.slice(0, 50);
  const more = c.counts.invalid + c.counts.duplicate - shown.length;
  return (
    <section class="card">
      <h3>Audience problems</h3>
      <p class="muted">
        {plural(c.counts.invalid, 'invalid row', 'invalid rows')} and {plural(c.counts.duplicate, 'duplicate', 'duplicates')} were skipped
        {more > 0 ? `; the first ${shown.length} are listed (the Recipients tab lists all).` : '.'}
      </p>
      <table>
        <thead>
          <tr>
            <th>Line</th>
            <th>Problem</th>
            <th>Reason</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((p) => (
            <tr key={`${p.line}-${p.kind}`}>
              <td class="num">{p.line}</td>
              <td>{p.kind}</td>
              <td>{p.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
