import type { CountKey, Status } from './types';

/** Words for what the API names; pure, so they read the same everywhere on the page. */

export const STATUS_LABEL: Record<Status, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  sending: 'Sending',
  paused: 'Paused',
  done: 'Done',
  cancelled: 'Cancelled',
  failed: 'Failed',
};

export const COUNT_LABEL: Record<CountKey, string> = {
  queued: 'Queued',
  inFlight: 'In flight',
  retrying: 'Retrying',
  sent: 'Sent',
  failed: 'Failed',
  invalid: 'Invalid rows',
  duplicate: 'Duplicates',
  suppressed: 'Suppressed',
  inDoubt: 'In doubt',
  notAccepted: 'Not accepted',
  cancelled: 'Cancelled',
};

/** One recipient's status, as a table row shows it. */
export const ROW_LABEL: Record<CountKey, string> = { ...COUNT_LABEL, invalid: 'Invalid', duplicate: 'Duplicate' };

export const COUNT_MEANING: Record<CountKey, string> = {
  queued: 'Waiting for its turn under the cap (rendered or not yet).',
  inFlight: 'With a worker now: being handed to the mail provider.',
  retrying: 'The provider pushed back; tried again at the time shown in the list.',
  sent: 'Accepted by the mail provider.',
  failed: 'Refused by the provider, with its reason. Retry failed puts them back in the queue.',
  invalid: 'Audience rows that are not a usable address; the reasons are listed by line.',
  duplicate: 'An address already earlier in the audience: sent once only.',
  suppressed: 'Unsubscribed, bounced or complained before: skipped.',
  inDoubt: 'The provider may or may not have taken it (a timeout). Never resent on its own, so nobody gets it twice.',
  notAccepted: 'Was in doubt; the provider has no record of it. Resend not accepted sends to them again.',
  cancelled: 'Not sent because the campaign was cancelled.',
};

export function plural(n: number, one: string, many: string): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

/** "45 s", "3 min 20 s", "2 h 5 min". */
export function duration(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s < 60) return `${Math.max(1, Math.round(s))} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = Math.round(s % 60);
    return `${m} min${r ? ` ${r} s` : ''}`;
  }
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function clock(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

/** A `datetime-local` value (the browser's zone) as an ISO time the API accepts; undefined when empty or not a time. */
export function isoFromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The head of an audience file for checks and previews: at most `max` bytes, cut at the last whole line. */
export function headOf(text: string, wholeFile: boolean): string {
  if (wholeFile) return text;
  const cut = text.lastIndexOf('\n');
  return cut > 0 ? text.slice(0, cut + 1) : text;
}
