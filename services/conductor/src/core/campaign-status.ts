import type { CampaignState, CampaignStatus } from '@baton/shared';
import { CampaignStateError } from './errors';

/**
 * A campaign's lifecycle as the conductor sees it. `cancelling` (no new lease; leases already
 * out finish) is a state of its own; it is stored as `cancelled` without `finishedAt`, so the
 * stored format and the API's `status` stay as they were, and the phase is derived from those
 * two facts rather than stored twice.
 */
export type CampaignPhase = 'draft' | 'scheduled' | 'sending' | 'paused' | 'cancelling' | 'cancelled' | 'done' | 'failed';

export type CampaignAction =
  'send' | 'schedule' | 'reschedule' | 'start' | 'pause' | 'resume' | 'cancel' | 'discard' | 'finish' | 'fail' | 'finishCancel' | 'reopen';

/** Every allowed transition, and nothing else: a marketer's action or the end of the work. */
export const TRANSITIONS: Readonly<Record<CampaignAction, { from: readonly CampaignPhase[]; to: CampaignPhase }>> = {
  send: { from: ['draft'], to: 'sending' },
  /** Send later: rendering starts now, sending at `sendAt`. */
  schedule: { from: ['draft'], to: 'scheduled' },
  /** A new `sendAt`, until it starts. */
  reschedule: { from: ['scheduled'], to: 'scheduled' },
  /** `sendAt` has come. */
  start: { from: ['scheduled'], to: 'sending' },
  pause: { from: ['sending'], to: 'paused' },
  resume: { from: ['paused'], to: 'sending' },
  /** Leases already out finish; the recipients not yet sent then count as cancelled. */
  cancel: { from: ['scheduled', 'sending', 'paused'], to: 'cancelling' },
  /** Cancelling a draft: nothing was ever out, so it ends at once. */
  discard: { from: ['draft'], to: 'cancelled' },
  finish: { from: ['sending'], to: 'done' },
  /** The audience could not be stubbed. */
  fail: { from: ['sending', 'cancelling'], to: 'failed' },
  finishCancel: { from: ['cancelling'], to: 'cancelled' },
  /** A marketer retries failed recipients (or resends notAccepted ones) of a finished campaign. */
  reopen: { from: ['done'], to: 'sending' },
};

const FINAL: ReadonlySet<CampaignPhase> = new Set(['cancelled', 'done', 'failed']);

export function phaseOf(state: CampaignState): CampaignPhase {
  return state.status === 'cancelled' && state.finishedAt === undefined ? 'cancelling' : state.status;
}

export function isFinal(phase: CampaignPhase): boolean {
  return FINAL.has(phase);
}

/** Work goes on in these: the store is scanned and leases may be out (not while scheduled: it renders only). */
export function isActive(phase: CampaignPhase): boolean {
  return phase === 'scheduled' || phase === 'sending' || phase === 'paused' || phase === 'cancelling';
}

export function storedStatus(phase: CampaignPhase): CampaignStatus {
  return phase === 'cancelling' ? 'cancelled' : phase;
}

/** The phase `action` leads to from `phase`; a `CampaignStateError` when the table has no such move. */
export function transition(campaignId: string, phase: CampaignPhase, action: CampaignAction): CampaignPhase {
  const move = TRANSITIONS[action];
  if (!move.from.includes(phase)) throw new CampaignStateError(campaignId, storedStatus(phase), action);
  return move.to;
}
