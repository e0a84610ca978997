import {
  isRetryableFailure,
  keys,
  LedgerRecordInvalidError,
  RetryableError,
  type Buckets,
  type Ledger,
  type Logger,
  type ObjectStore,
  type RequeueReport,
} from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import type { Campaigns } from './campaigns';
import { CampaignStateError } from './errors';
import type { Reconciler } from './reconciler';

export interface RequeueDeps {
  store: ObjectStore;
  buckets: Buckets;
  ledger: Ledger;
  logger: Logger;
  campaigns: Campaigns;
  reconciler: Reconciler;
}

/** `failed`: a retry of those that failed for a retryable reason; `notAccepted`: an explicit resend. */
export type RequeueWhich = 'failed' | 'notAccepted';

/**
 * Puts recipients back in the queue at a marketer's request, with the same at-most-once guarantee
 * as a first send (the argument, crash point by crash point, is in docs/recipients.md):
 *
 * 1. The candidates are read from the ledger: a retry takes only failures with a retryable reason
 *    (`isRetryableFailure`: retries exhausted), never permanent ones, suppressed or in doubt.
 * 2. A finished campaign is moved back to sending first, so a crash after any ledger change leaves
 *    a campaign that is sending and finishes again, never a finished one with recipients waiting.
 * 3. Each recipient goes through the ledger (`reopenFailed`: only with no claim standing;
 *    `reopenNotAccepted`: claim first, then outcome), and only then back to the run's queue. The
 *    worker that gets it claims it like any other before calling the provider.
 */
export class Requeue {
  constructor(private readonly deps: RequeueDeps) {}

  async requeue(run: CampaignRun, which: RequeueWhich): Promise<RequeueReport> {
    // In turn with the campaign's finish, so it never ends with recipients just put back.
    return this.deps.campaigns.serially(run, () => this.requeueNow(run, which));
  }

  private async requeueNow(run: CampaignRun, which: RequeueWhich): Promise<RequeueReport> {
    const action = which === 'failed' ? 'retry' : 'resend';
    if (!['sending', 'paused', 'done'].includes(run.phase)) throw new CampaignStateError(run.id, run.phase, action);
    if (run.restoredFromSummary) await this.deps.reconciler.rebuildFromLedger(run);
    if (!run.ledgerLoaded)
      throw new RetryableError('CAMPAIGN_LOADING', 'the campaign is still being read from the store; try again shortly');
    const skipped: RequeueReport['skipped'] = [];
    const eligible = await this.eligible(run, which, skipped);
    if (eligible.length === 0) return { requeued: 0, skipped };
    if (run.phase === 'done') await this.deps.campaigns.move(run, 'reopen', { finishedAt: undefined });
    let requeued = 0;
    for (const recipientId of eligible) {
      const ref = { ...run.ref, recipientId };
      const result = which === 'failed' ? await this.deps.ledger.reopenFailed(ref) : await this.deps.ledger.reopenNotAccepted(ref);
      if (result.kind === 'skipped') {
        skipped.push({ recipientId, reason: result.reason });
        continue;
      }
      run.requeueResolved(recipientId);
      requeued++;
    }
    this.deps.logger.info({ event: `campaign.${action}`, campaignId: run.id, requeued, skipped: skipped.length }, 'recipients re-queued');
    return { requeued, skipped };
  }

  /** The run's recipients with the outcome asked for whose ledger record allows it. */
  private async eligible(run: CampaignRun, which: RequeueWhich, skipped: RequeueReport['skipped']): Promise<string[]> {
    const out: string[] = [];
    for (const recipientId of run.recipientsWith(which)) {
      let record;
      try {
        record = await this.deps.ledger.readOutcome({ ...run.ref, recipientId });
      } catch (err) {
        if (!(err instanceof LedgerRecordInvalidError)) throw err;
        skipped.push({ recipientId, reason: 'OUTCOME_INVALID: its outcome record cannot be read' });
        continue;
      }
      if (which === 'notAccepted' ? record?.status !== 'notAccepted' : record === undefined || !isRetryableFailure(record)) continue;
      // The ledger checks again when it reopens it; checked here too, so a campaign is not reopened for nothing.
      if (which === 'failed' && (await this.deps.ledger.hasClaim({ ...run.ref, recipientId }))) {
        skipped.push({ recipientId, reason: 'CLAIMED: a claim stands, so it may have been sent' });
        continue;
      }
      // Past retention its rendered message is gone: a worker would record it failed for good.
      if ((await this.deps.store.get(this.deps.buckets.rendered, keys.rendered({ ...run.ref, recipientId }))) === undefined) {
        skipped.push({ recipientId, reason: 'RENDERED_GONE: its rendered message was removed (retention); send it in a new campaign' });
        continue;
      }
      out.push(recipientId);
    }
    return out;
  }
}
