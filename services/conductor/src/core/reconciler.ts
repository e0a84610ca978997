import {
  audienceReport,
  describeError,
  campaignSummary,
  keys,
  listAll,
  parseJson,
  parseKey,
  parseWith,
  trailingRecipientId,
  LedgerRecordInvalidError,
  type AudienceReport,
  type CampaignSummary,
  type OutcomeRecord,
  type OutcomeStatus,
} from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import type { ReconcilerDeps } from './reconciler-deps';
import { releaseByZone } from './local-release';

export type { ReconcilerDeps, ReconcilerSettings } from './reconciler-deps';

/**
 * Stubs written again per scan at most. The tick awaits every scan, and only the tick extends the
 * governors' durable horizon (two lease horizons) and starts workers: a re-drive of a large
 * campaign done in one go (20,000 stubs, about 30 s here) stopped all sending meanwhile. Spread
 * over scans, it goes on at the next one without waiting for another stall.
 */
export const REDRIVE_PER_SCAN = 500;

/** When a campaign was last scanned, how far rendering had got and since when. */
interface ScanMarks {
  scannedAt: number;
  progress: number;
  progressAt: number;
  /** A re-drive under way: the last stub key it handled, and how many it wrote so far. */
  redrive: { after: string; written: number } | undefined;
  /** When the outcome records of recipients in doubt for want of a report were last read. */
  unreportedReadAt: number;
}

/** A campaign sending whose first rendered recipient has not been seen yet. */
export function isStarting(run: CampaignRun): boolean {
  return run.phase === 'sending' && run.rendered === 0 && run.outcomeCount === 0;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Keeps each campaign's picture in step with the store: the audience report, newly rendered
 * recipients, the ledger (read once before anything is queued, so a restarted conductor never
 * resends), re-drives of stalled rendering, recipients nobody reported on, and the finish.
 */
export class Reconciler {
  private readonly marks = new Map<string, ScanMarks>();
  /** Campaigns being read back from the ledger (`rebuildFromLedger`), by id. */
  private readonly rebuilding = new Map<string, Promise<void>>();

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Scans the campaign if its interval has passed; a failed scan is logged and tried again later. */
  async scanIfDue(run: CampaignRun, now: number): Promise<void> {
    const marks = this.marksOf(run);
    // Until its first rendered recipient is seen, a sending campaign is looked at on every tick
    // (the conductor ticks fast meanwhile): the first send must not wait a scan interval.
    if (!isStarting(run) && now - marks.scannedAt < this.deps.settings.scanIntervalMs) return;
    marks.scannedAt = now;
    try {
      await this.scan(run, now);
    } catch (err) {
      this.deps.logger.error({ event: 'campaign.scan_failed', campaignId: run.id, err }, 'scan failed; will retry');
    }
  }

  private async scan(run: CampaignRun, now: number): Promise<void> {
    const { store, buckets } = this.deps;
    if (run.report === undefined) {
      const report = await this.readReport(run);
      if (report !== undefined) {
        run.setReport(report);
      } else {
        await this.readProgress(run);
        let stubbed = 0;
        for await (const _ of listAll(store, buckets.stubs, keys.stubsPrefix(run.ref))) stubbed++;
        run.noteStubbed(stubbed);
      }
    }
    if (!run.ledgerLoaded) {
      await this.loadLedger(run);
      run.markLedgerLoaded();
    }
    if (run.report === undefined || run.rendered < run.report.valid) {
      let seen = 0;
      for await (const key of listAll(store, buckets.rendered, keys.renderedPrefix(run.ref))) {
        seen++;
        // Most keys of a large campaign were queued by an earlier scan: skip them without parsing.
        if (!run.isKnown(trailingRecipientId(key))) run.addRendered(parseKey.rendered(key).recipientId);
      }
      run.noteRendered(seen);
      // Recipients that will never be rendered (the renderer recorded a failure) are found in the ledger.
      if (run.report !== undefined && run.rendered + run.countOf('failed') < run.report.valid) await this.loadOutcomes(run);
      await this.redriveIfStalled(run, now);
    }
    if (run.state.localSend) await releaseByZone(this.deps, run, run.state.localSend);
  }

  /**
   * The audience report, if stubbing has finished. A damaged one is named on the campaign and
   * read as absent: sending goes on, and the stall re-drive has the stubber (idempotent) write it
   * again.
   */
  private async readReport(run: CampaignRun): Promise<AudienceReport | undefined> {
    const key = keys.audienceReport(run.ref);
    const text = await this.deps.store.get(this.deps.buckets.campaigns, key);
    if (text === undefined) return undefined;
    try {
      const report = parseWith(audienceReport, parseJson(text, key), 'REPORT_INVALID', key);
      run.damaged.clear(key);
      return report;
    } catch (err) {
      this.damaged(run, key, err);
      return undefined;
    }
  }

  /** The problems the stubber has found so far; one that cannot be read is skipped (the report will come). */
  private async readProgress(run: CampaignRun): Promise<void> {
    const key = keys.audienceProgress(run.ref);
    const text = await this.deps.store.get(this.deps.buckets.campaigns, key);
    if (text === undefined) return;
    try {
      run.setProgress(parseWith(audienceReport, parseJson(text, key), 'REPORT_INVALID', key));
    } catch {
      // Shown again with the next progress or the report; nothing depends on it.
    }
  }

  /** Names a damaged object on its campaign, and logs it once. */
  private damaged(run: CampaignRun, key: string, err: unknown): void {
    const reason = describeError(err);
    if (run.damaged.note(key, reason))
      this.deps.logger.error({ event: 'campaign.object_damaged', campaignId: run.id, key, reason }, 'a stored object cannot be read');
  }

  /**
   * Events can be lost (a crash with events queued, a dead-lettered render, a stubber that
   * never ran): when rendering has not moved for `stallMs`, drive the missing work again.
   */
  private async redriveIfStalled(run: CampaignRun, now: number): Promise<void> {
    const marks = this.marksOf(run);
    const progress = run.report === undefined ? run.counts().stubbed : run.rendered + run.countOf('failed');
    if (marks.redrive === undefined) {
      if (progress !== marks.progress) {
        // First seen by this conductor (a restart): nothing says when it last moved, so count from
        // the send; work that is really moving shows it by the next scan. A needless re-drive is
        // harmless (both handlers are idempotent); waiting a full stall after every restart is not.
        const first = marks.progress < 0;
        marks.progress = progress;
        marks.progressAt = first ? Math.min(now, Date.parse(run.state.sendRequestedAt ?? run.state.updatedAt)) : now;
        return;
      }
      if (now - marks.progressAt < this.deps.settings.stallMs) return;
    }
    marks.progressAt = now;
    const { logger, topic } = this.deps;
    if (run.report === undefined) {
      await topic.publish({ version: 1, type: 'campaign.requested', ...run.ref, requestedAt: new Date(now).toISOString() });
      logger.warn({ event: 'campaign.republished', campaignId: run.id }, 'stubbing has not finished; campaign requested again');
      return;
    }
    await this.rewriteUnrendered(run, marks);
  }

  /** Writes again (its event re-runs the renderer) each stub with neither a rendered object nor an outcome: REDRIVE_PER_SCAN a scan. */
  private async rewriteUnrendered(run: CampaignRun, marks: ScanMarks): Promise<void> {
    const { store, buckets, logger } = this.deps;
    const from = marks.redrive ?? { after: '', written: 0 };
    let written = 0;
    marks.redrive = undefined;
    for await (const key of listAll(store, buckets.stubs, keys.stubsPrefix(run.ref))) {
      if (key <= from.after) continue;
      const { recipientId } = parseKey.stub(key);
      if (run.isKnown(recipientId) || run.hasOutcome(recipientId)) continue;
      if (written >= REDRIVE_PER_SCAN) {
        marks.redrive = { after: from.after, written: from.written + written };
        return;
      }
      const body = await store.get(buckets.stubs, key);
      from.after = key;
      if (body === undefined) continue;
      await store.put(buckets.stubs, key, body, { contentType: 'application/json' }); // the write's event re-runs the renderer
      written++;
    }
    const total = from.written + written;
    if (total > 0)
      logger.warn({ event: 'campaign.rerender', campaignId: run.id, recipients: total }, 'stubs never rendered were written again');
  }

  private async loadLedger(run: CampaignRun): Promise<void> {
    await this.loadOutcomes(run);
    for await (const recipientId of this.deps.ledger.claimedRecipients(run.ref)) {
      if (run.hasOutcome(recipientId)) continue;
      // Claimed by a worker of an earlier conductor, with no outcome: it may have been sent.
      run.markUnreported(recipientId, this.deps.clock.now());
      await this.recordOutcome(run, recipientId, 'inDoubt', 'NO_REPORT: claimed before a conductor restart');
    }
  }

  private async loadOutcomes(run: CampaignRun): Promise<void> {
    const records = this.deps.ledger.outcomes(run.ref, {
      skip: (id) => run.isInFlight(id) || (run.hasOutcome(id) && !run.isUnreported(id)),
      onDamaged: (error, recipientId) => {
        // Somebody wrote how it ended, and it cannot be read: it may have been sent, so it is
        // never sent again. In doubt, and named, until an operator looks.
        this.damaged(run, error.key, error);
        if (run.resolve(recipientId, 'inDoubt')) this.deps.metrics.outcome('inDoubt');
      },
    });
    for await (const record of records) {
      if (!run.resolve(record.recipientId, record.status)) continue;
      this.deps.metrics.outcome(record.status);
      if (record.status === 'sent') this.deps.sendRates?.record(run.definition.sendingDomain, run.id, Date.parse(record.at));
    }
  }

  /**
   * Recipients whose fate nobody reported: the worker's own outcome record if it wrote one;
   * else a claim means the send may have happened (in doubt); else back to the queue.
   */
  async settleUnknown(run: CampaignRun, recipientIds: readonly string[], now: number): Promise<void> {
    for (const recipientId of recipientIds) {
      if (await this.settleFromRecord(run, recipientId)) continue;
      const claimed = await this.deps.ledger.hasClaim({ ...run.ref, recipientId });
      if (claimed) {
        // The record first: if the write fails, the recipient is still in flight and tried again.
        await this.recordOutcome(run, recipientId, 'inDoubt', 'NO_REPORT: claimed but never reported');
        run.markUnreported(recipientId, now);
      } else {
        run.requeue(recipientId);
        this.deps.metrics.retry('expired');
      }
    }
  }

  /** How a recipient claimed by someone else ended, if the ledger says; in doubt until it does. */
  async settleFromLedger(run: CampaignRun, recipientId: string, now: number): Promise<void> {
    if (await this.settleFromRecord(run, recipientId)) return;
    run.markUnreported(recipientId, now);
  }

  /** The recipient's outcome record, if there is one that says how it ended; false if none does. */
  async settleFromRecord(run: CampaignRun, recipientId: string): Promise<boolean> {
    let record: OutcomeRecord | undefined;
    try {
      record = await this.deps.ledger.readOutcome({ ...run.ref, recipientId });
    } catch (err) {
      if (!(err instanceof LedgerRecordInvalidError)) throw err;
      return false; // unreadable says nothing about how it ended
    }
    if (record === undefined || record.status === 'inDoubt') return false;
    if (run.resolve(recipientId, record.status)) this.deps.metrics.outcome(record.status);
    return true;
  }

  /** The conductor's own record, written only if no worker wrote one. */
  async recordOutcome(run: CampaignRun, recipientId: string, status: OutcomeStatus, reason: string): Promise<void> {
    await this.deps.ledger.recordOutcome({ ...run.ref, recipientId }, { status, reason }, 'if-absent');
  }

  /** Ends a campaign whose every recipient is accounted for and nothing is out with a worker. */
  async finishIfComplete(run: CampaignRun): Promise<void> {
    if (run.phase !== 'sending' && run.phase !== 'cancelling') return;
    if (!run.isComplete()) return;
    await this.deps.campaigns.serially(run, () => this.finish(run));
  }

  /** Checks again in turn (a retry may have put recipients back meanwhile), then ends the campaign. */
  private async finish(run: CampaignRun): Promise<void> {
    if ((run.phase !== 'sending' && run.phase !== 'cancelling') || !run.isComplete()) return;
    if (!(await this.lateReportsSettled(run))) return;
    const finishedAt = new Date(this.deps.clock.now()).toISOString();
    const { campaigns, logger } = this.deps;
    // The summary first: a campaign whose state says it ended always has one to read back.
    await this.writeSummary(run, finishedAt);
    if (run.report?.error) await campaigns.move(run, 'fail', { finishedAt, error: run.report.error });
    else await campaigns.move(run, run.phase === 'sending' ? 'finish' : 'finishCancel', { finishedAt });
    logger.info({ event: 'campaign.finished', campaignId: run.id, status: run.state.status, counts: run.counts() }, 'campaign finished');
  }

  /**
   * A finished campaign after a restart: its summary gives the counts. Without a readable one
   * (it ended before summaries existed, or the object is damaged) the counts are rebuilt from
   * the audience report and the ledger once, and the summary written.
   */
  async restoreFinished(run: CampaignRun): Promise<void> {
    const { store, buckets, logger } = this.deps;
    const key = keys.summary(run.ref);
    const text = await store.get(buckets.campaigns, key);
    const summary = text === undefined ? undefined : campaignSummary.safeParse(safeJson(text));
    if (summary?.success) {
      run.restoreFinal(summary.data.counts);
      return;
    }
    if (summary)
      logger.error({ event: 'campaign.summary_invalid', campaignId: run.id, key }, 'summary unreadable; rebuilt from the ledger');
    await this.rebuildFromLedger(run);
    await this.writeSummary(run, run.state.finishedAt ?? new Date(this.deps.clock.now()).toISOString());
  }

  /**
   * A finished campaign's picture from the audience report and the ledger (not its summary): for
   * settling or retrying its recipients. Its counts are live once all of it is read: until then the
   * run still says it is `restoredFromSummary`, so a retry asked for meanwhile waits for the same
   * reading rather than taking a table half filled (or reading it again, and counting every
   * outcome twice in the metrics).
   */
  rebuildFromLedger(run: CampaignRun): Promise<void> {
    let rebuild = this.rebuilding.get(run.id);
    if (rebuild === undefined) {
      rebuild = this.rebuild(run).finally(() => this.rebuilding.delete(run.id));
      this.rebuilding.set(run.id, rebuild);
    }
    return rebuild;
  }

  private async rebuild(run: CampaignRun): Promise<void> {
    const { store, buckets } = this.deps;
    const report = await store.get(buckets.campaigns, keys.audienceReport(run.ref));
    if (report !== undefined)
      run.setReport(parseWith(audienceReport, parseJson(report, 'audience report'), 'REPORT_INVALID', 'audience report'));
    let rendered = 0;
    for await (const _ of listAll(store, buckets.rendered, keys.renderedPrefix(run.ref))) rendered++;
    run.noteRendered(rendered);
    await this.loadOutcomes(run);
    // Every recipient of a finished campaign has its outcome: no claim without one is left to find.
    run.markLedgerLoaded();
    run.reopen();
  }

  /** Written when a campaign ends, and again when a recipient of a finished one is settled. */
  async writeSummary(run: CampaignRun, finishedAt: string): Promise<void> {
    const summary: CampaignSummary = { version: 1, finishedAt, counts: run.counts(), inDoubt: run.recipientsWith('inDoubt') };
    await this.deps.store.put(this.deps.buckets.campaigns, keys.summary(run.ref), JSON.stringify(summary), {
      contentType: 'application/json',
    });
  }

  /**
   * In doubt only for want of a report: a worker that outlived its lease (or its conductor) may
   * still write how it ended. Read those records now and then; done once none is left or the
   * lease grace has passed.
   */
  private async lateReportsSettled(run: CampaignRun): Promise<boolean> {
    if (run.unreported().length === 0) return true;
    const now = this.deps.clock.now();
    const marks = this.marksOf(run);
    if (now - marks.unreportedReadAt >= this.deps.settings.scanIntervalMs) {
      marks.unreportedReadAt = now;
      for (const recipientId of run.unreported()) await this.settleFromRecord(run, recipientId);
    }
    return run.unreported().length === 0 || now - run.lastUnreportedAt >= this.deps.settings.leaseGraceMs;
  }

  private marksOf(run: CampaignRun): ScanMarks {
    let marks = this.marks.get(run.id);
    if (!marks) {
      marks = {
        scannedAt: Number.NEGATIVE_INFINITY,
        progress: -1,
        progressAt: 0,
        redrive: undefined,
        unreportedReadAt: Number.NEGATIVE_INFINITY,
      };
      this.marks.set(run.id, marks);
    }
    return marks;
  }
}
