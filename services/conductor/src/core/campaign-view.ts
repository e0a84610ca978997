import { describeCap, type CampaignView, type Waiting } from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import type { Governor } from './governor';
import { describeLocal, windowAt } from './send-window';
import type { ComplaintTally } from './feedback';
import type { SendRates } from './send-rates';
import type { PauseView } from './lease-stops';
import type { SendingGovernors } from './sending-governors';
import { localSendView } from './local-waves';

/** The view is the API's type (shared api-types.ts): this module builds it. */
export type { CampaignView };

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
  // A send at a local time has its own ETA, which waits for its waves (local-waves.ts).
  const local = localSendView(
    run,
    now,
    { perMinuteNow: run.sentInLast(MINUTE_MS, now), perMinuteCap: effectiveCap.perMinute },
    waitingFor(run, governors, now) !== undefined,
  );
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
    ...optional('monthlyLimit', monthlyLimitOf(governor, now)),
    ...(state.finishedAt ? { finishedAt: state.finishedAt } : {}),
    counts: run.counts(),
    sentLastMinute: rates?.sentInLast(run.id, MINUTE_MS, now) ?? 0,
    sendingDomain: definition.sendingDomain ?? governors.defaultDomain,
    cap,
    effectiveCap,
    perMinuteMax: cap.perMinute,
    effectivePerMinute: effectiveCap.perMinute,
    etaSeconds: local ? local.etaSeconds : etaSeconds(run, governors, effectiveCap.perMinute, now),
    problems: [...run.problemsFound, ...run.zoneProblems].slice(0, 100),
    ...(state.localSend ? { localSend: state.localSend } : {}),
    ...(local ? { waves: local.waves } : {}),
    ...(state.error ? { error: state.error } : {}),
    attention: run.damaged.list(),
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
 * (early on a full minute would understate it), but no faster than the effective cap (once the
 * provider pushed back, the governor grants less than was sent before); no estimate until
 * something was sent. Never sooner than the last waiting retry is due: the campaign cannot end
 * before it (the issue: "about 1–2 s" stayed on screen for a minute while a retry waited).
 */
function etaSeconds(run: CampaignRun, governors: SendingGovernors, perMinuteCap: number, now: number): number | null {
  const remaining = run.report ? Math.max(0, run.report.valid - run.outcomeCount) : null;
  if (run.phase !== 'sending' || remaining === null || waitingFor(run, governors, now)) return null;
  const sinceSend = run.state.sendRequestedAt ? now - Date.parse(run.state.sendRequestedAt) : MINUTE_MS;
  const span = Math.min(MINUTE_MS, Math.max(sinceSend, 1_000));
  const rate = Math.min(perMinuteCap, (run.sentInLast(span, now) * MINUTE_MS) / span);
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

function monthlyLimitOf(governor: Governor, now: number): CampaignView['monthlyLimit'] {
  const month = governor.snapshot(now).month;
  return month && { month: month.month, limit: month.limit, left: Math.max(0, month.limit - month.granted) };
}
