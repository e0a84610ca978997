import { STATUS_LABEL, dateTime, plural } from './format';
import type { Campaign } from './types';

export function progressLine(c: Campaign): string {
  const k = c.counts;
  if (c.status === 'draft') return 'Not sent yet';
  if (c.status === 'scheduled' && c.sendAt) return `Starts ${dateTime(c.sendAt)}`;
  if (k.total === 0) return c.status === 'failed' ? 'Stopped before sending' : 'Reading the audience…';
  const people = recipientsOf(c);
  const pct = people ? Math.floor((100 * k.sent) / people) : 0;
  return `${k.sent.toLocaleString('en')} of ${plural(people, 'recipient', 'recipients')} sent (${pct}%)`;
}

/** The audience's rows less those that are no one to send to (invalid rows, repeated addresses). */
export function recipientsOf(c: Campaign): number {
  return Math.max(0, c.counts.total - c.counts.invalid - c.counts.duplicate);
}

export function CampaignListView(props: { campaigns: Campaign[] | null; selected: string | null; onSelect: (id: string) => void }) {
  if (!props.campaigns) return <p class="muted">Loading…</p>;
  if (props.campaigns.length === 0) return <p class="muted">No campaigns yet. Click New campaign to write the first one.</p>;
  return (
    <ul class="campaigns">
      {props.campaigns.map((c) => (
        <li key={c.id}>
          <button
            type="button"
            class="campaign"
            aria-current={c.id === props.selected ? 'true' : undefined}
            onClick={() => props.onSelect(c.id)}
          >
            <span class="row">
              <strong class="name">{c.name}</strong>
              <span class={`status ${c.status}`}>{STATUS_LABEL[c.status] ?? c.status}</span>
            </span>
            <span class="line muted">{c.subject}</span>
            <span class="line muted">{progressLine(c)}</span>
            {c.status !== 'draft' && <Bar campaign={c} />}
          </button>
        </li>
      ))}
    </ul>
  );
}

/** Where every recipient stands, as one bar: sent, failed, in doubt, skipped, the rest still to go. */
export function Bar({ campaign }: { campaign: Campaign }) {
  const k = campaign.counts;
  const total = Math.max(1, recipientsOf(campaign));
  const parts: [string, number][] = [
    ['sent', k.sent],
    ['failed', k.failed + k.notAccepted],
    ['doubt', k.inDoubt],
    ['skipped', k.suppressed + k.cancelled],
  ];
  return (
    <span class="bar" aria-hidden="true">
      {parts.map(([name, n]) => (
        <span key={name} class={name} style={{ width: `${Math.min(100, (100 * n) / total)}%` }} />
      ))}
    </span>
  );
}
