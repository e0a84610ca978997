import { describeCap, type Cap, type CampaignStatus, type LocalSend, type SendWindow } from '@baton/shared';
import type { CampaignCounts, CampaignRun } from './campaign-run';
import type { Governor } from './governor';
import { describeLocal, windowAt } from './send-window';
import type { ComplaintTally } from './feedback';
import type { SendRates } from './send-rates';
import type { PauseView } from './lease-stops';
import type { SendingGovernors } from './sending-governors';

/** Why a campaign that may send is not sending now, and until when. */
export interface Waiting {
  reason: 'scheduled' | 'sendWindow' | 'providerHold' | 'dailyLimit';
  until: string;
  message: string;
}

export interface CampaignView {
  id: string;
  customerId: string;
  name: string;
  subject: string;
  /** `cancelled` without `finishedAt` while the leases already out finish. */
  status: CampaignStatus;
  createdAt: string;
  sendRequestedAt?: string;
  /** When a scheduled campaign starts (or started) sending. */
  sendAt?: string;
  sendWindow?: SendWindow;
  /** Each recipient released at a local time where they are. */
  localSend?: LocalSend;
  /** Its domain's daily limit today (in the limit's zone) and what is left of it, when it has one. */
  dailyLimit?: { day: string; limit: number; left: number };
  /** Present while it waits: for its time, its window, the provider or the day's limit. */
  waiting?: Waiting;
  finishedAt?: string;
  counts: CampaignCounts;
  /** Sends the provider accepted for this campaign whose calls started in the last minute (failures and calls in doubt not counted). */
  sentLastMinute: number;
  sendingDomain: string;
  /** The domain's cap per governor window, and per minute, in the words every surface uses (`describeCap`). */
  cap: Cap;
  /** The cap as the governor applies it now: lower after the provider pushed back. */
  effectiveCap: Cap;
  /** `cap.perMinute` (kept for older clients). */
  perMinuteMax: number;
  /** `effectiveCap.perMinute` (kept for older clients). */
  effectivePerMinute: number;
  etaSeconds: number | null;
  problems: { line: number; kind: string; reason: string }[];
  /** Why a `failed` campaign failed. */
  error?: { code: string; message: string };
  /** Stored objects that cannot be read (key and reason): the rest of the campaign goes on around them. */
  attention: { key: string; reason: string }[];
  /**
   * While paused: what may still reach the provider after the click (calls already on their way
   * when the workers stopped) and by when they are over, in words. Absent for a campaign paused
   * before a restart (its workers' leases ended with the conductor).
   */
  pause?: PauseView;
  /** Complaints the provider reported, against the messages sent; `warning` past Gmail's 0.1%. */
  complaints?: { complained: number; rate: number; complete: boolean; warning?: string };
}

/** Gmail's guidance for bulk senders: keep spam complaints below 0.1% (0.3% is its hard limit). */
export const COMPLAINT_RATE_WARNING = 0.001;

const MINUTE_MS = 60_000;

/** What marketers see of a campaign: counts, the rate against the cap, and the time left. */
export function campaignView(
  run: CampaignRun,
  governors: SendingGovernors,
  now: number,
  complaints?: ComplaintTally,
  rates?: SendRates,
  pause?: PauseView,
): CampaignView {
  const governor = governors.forDomain(run.definition.sendingDomain);
  const cap = describeCap(governor.cap, governor.settings.windowMs);
  const effectiveCap = describeCap(governor.effectiveCap, governor.settings.windowMs);
  const { state, definition } = run;
  return {
    id: run.id,
    customerId: definition.customerId,
    name: definition.name,
    subject: definition.subject,
    status: state.status,
    createdAt: definition.createdAt,
    ...(state.sendRequestedAt ? { sendRequestedAt: state.sendRequestedAt } : {}),
    ...(state.sendAt ? { sendAt: state.sendAt } : {}),
    ...(state.sendWindow ? { sendWindow: state.sendWindow } : {}),
    ...optional('waiting', waitingFor(run, governors, now)),
    ...optional('dailyLimit', dailyLimitOf(governor, now)),
    ...(state.finishedAt ? { finishedAt: state.finishedAt } : {}),
    counts: run.counts(),
    sentLastMinute: rates?.sentInLast(run.id, MINUTE_MS, now) ?? 0,
    sendingDomain: definition.sendingDomain ?? governors.defaultDomain,
    cap,
    effectiveCap,
    perMinuteMax: cap.perMinute,
    effectivePerMinute: effectiveCap.perMinute,
    etaSeconds: etaSeconds(run, governors, cap.perMinute, now),
    problems: [...(run.report?.problems ?? []), ...run.zoneProblems].slice(0, 100),
    ...(state.localSend ? { localSend: state.localSend } : {}),
    ...(state.error ? { error: state.error } : {}),
    attention: run.attention(),
    ...(complaints !== undefined ? { complaints: complaintView(complaints, run.counts().sent) } : {}),
    ...optional('pause', pause),
  };
}

function complaintView(tally: ComplaintTally, sent: number): NonNullable<CampaignView['complaints']> {
  const rate = sent > 0 ? tally.complained / sent : 0;
  const warning =
    rate > COMPLAINT_RATE_WARNING
      ? `${(rate * 100).toFixed(2)}% of recipients marked this campaign as spam: above 0.1%, mailbox providers start filtering (Gmail rejects past 0.3%)`
      : undefined;
  return { complained: tally.complained, rate, complete: tally.complete, ...(warning !== undefined ? { warning } : {}) };
}

/**
 * From the rate over the last minute, or over the time since sending began if that is shorter
 * (early on a full minute would understate it); no estimate until something was sent. Never
 * sooner than the last waiting retry is due: the campaign cannot end before it (the issue: "about
 * 1–2 s" stayed on screen for a minute while a retry waited).
 */
function etaSeconds(run: CampaignRun, governors: SendingGovernors, perMinuteMax: number, now: number): number | null {
  const remaining = run.report ? Math.max(0, run.report.valid - run.outcomeCount) : null;
  if (run.phase !== 'sending' || remaining === null || waitingFor(run, governors, now)) return null;
  const sinceSend = run.state.sendRequestedAt ? now - Date.parse(run.state.sendRequestedAt) : MINUTE_MS;
  const span = Math.min(MINUTE_MS, Math.max(sinceSend, 1_000));
  const rate = Math.min(perMinuteMax, (run.sentInLast(span, now) * MINUTE_MS) / span);
  const due = run.lastRetryDue();
  const untilRetry = due === undefined ? 0 : Math.max(0, Math.ceil((due - now) / 1000));
  if (rate <= 0) return remaining > 0 && untilRetry > 0 ? untilRetry : null;
  return Math.max(Math.ceil((remaining / rate) * 60), untilRetry);
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

function waitingFor(run: CampaignRun, governors: SendingGovernors, now: number): Waiting | undefined {
  const { state } = run;
  if (run.phase === 'scheduled' && state.sendAt) {
    return { reason: 'scheduled', until: state.sendAt, message: `Scheduled: sending starts at ${state.sendAt}` };
  }
  if (run.phase !== 'sending') return undefined;
  if (state.sendWindow) {
    const w = windowAt(state.sendWindow, now);
    if (!w.open) {
      const when = describeLocal(w.opensAt, state.sendWindow.timeZone);
      return {
        reason: 'sendWindow',
        until: new Date(w.opensAt).toISOString(),
        message: `Outside its send window: sending resumes ${when}`,
      };
    }
  }
  const hold = governors.holdOf(run.definition.sendingDomain, now);
  if (hold) return { reason: hold.reason, until: new Date(hold.until).toISOString(), message: hold.message };
  return undefined;
}

function dailyLimitOf(governor: Governor, now: number): CampaignView['dailyLimit'] {
  const today = governor.snapshot(now).today;
  return today && { day: today.day, limit: today.limit, left: Math.max(0, today.limit - today.granted) };
}
