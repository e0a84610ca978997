import {
  isAllowedRecipient,
  nextSlot,
  recipientIdFor,
  ValidationError,
  type Buckets,
  type Clock,
  type Ledger,
  type Logger,
  type ObjectStore,
  type RenderedMessage,
  type Sender,
  type SliceSchedule,
  type Stage,
} from '@baton/shared';
import { normaliseAddress, type AudienceRecipient } from '@baton/templating';
import { AudienceHeads } from './audience-heads';
import type { CampaignRun } from './campaign-run';
import { CampaignStateError, NoPermitError, RecipientSuppressedError } from './errors';
import type { RenderPool } from './ports';
import type { SendingGovernors } from './sending-governors';

export interface PreviewSettings {
  stage: Stage;
  publicUrl: string;
  /** Signs unsubscribe links in previews. */
  unsubscribeSecret: string;
  qaAllowList?: readonly string[];
}

export interface PreviewDeps {
  store: ObjectStore;
  buckets: Buckets;
  clock: Clock;
  logger: Logger;
  governors: SendingGovernors;
  ledger: Ledger;
  /**
   * The provider, for the marketer's "send a test to myself": through the campaign's sending
   * domain, whose governor gave the permit.
   */
  testSender?: Sender;
  /** Where previews are rendered and audiences sampled, off the event loop. */
  renderPool: RenderPool;
  settings: PreviewSettings;
}

/** How far ahead a test send looks for a free permit before answering 429. */
const TEST_SEND_LOOKAHEAD_MS = 3_000;

/**
 * Previews and test sends: the campaign rendered as a recipient would get it (the first
 * audience row, or the tester's own address), and that preview sent now under the governor like
 * any other call. Each campaign's first recipient is cached (compiled templates are, in the pool).
 */
export class Previews {
  private readonly samples = new Map<string, AudienceRecipient | undefined>();
  /** Stored audiences' heads, for a chosen row (the editor's checks read them too). */
  readonly heads: AudienceHeads;

  constructor(private readonly deps: PreviewDeps) {
    this.heads = new AudienceHeads(deps.store, deps.buckets.campaigns);
  }

  /**
   * The campaign rendered for its first audience row (or the given address), or for data row
   * `row` (1-based) of the audience's head (a ValidationError naming `row` when it is not there).
   */
  async preview(run: CampaignRun, to?: string, row?: number): Promise<RenderedMessage> {
    const first = row === undefined ? await this.sampleRecipient(run) : await this.audienceRow(run, row);
    const email = to ?? first?.email ?? 'preview@example.com';
    // A test goes out under the tester's own id, so its unsubscribe link can never suppress
    // the audience's first recipient.
    const recipientId =
      to !== undefined ? recipientIdFor(run.definition.customerId, normaliseAddress(to.trim())) : (first?.recipientId ?? '0'.repeat(32));
    const { publicUrl, unsubscribeSecret } = this.deps.settings;
    const { from, subject, mjml } = run.definition;
    return this.deps.renderPool.render(
      { from, subject, mjml },
      { ...run.ref, recipientId, email, fields: { ...(first?.fields ?? {}), email } },
      { publicUrl, unsubscribeSecret },
    );
  }

  /** Sends the preview to one address now, under the governor like any other send. */
  async testSend(run: CampaignRun, to: string): Promise<{ providerId: string }> {
    const { settings, testSender, governors, logger } = this.deps;
    if (!testSender) throw new CampaignStateError(run.id, 'not configured', 'test-send');
    if (settings.stage === 'qa' && !isAllowedRecipient(settings.qaAllowList ?? [], to)) {
      throw new ValidationError('QA_NOT_ALLOWED', [{ where: 'body.to', message: 'is not in QA_ALLOWED_RECIPIENTS' }]);
    }
    // A test is still mail to that person: an address suppressed for this customer (unsubscribed,
    // bounced, complained or added by hand) gets none.
    const recipientId = recipientIdFor(run.definition.customerId, normaliseAddress(to.trim()));
    const suppression = await this.deps.ledger.readSuppression({ customerId: run.definition.customerId, recipientId });
    if (suppression !== undefined) throw new RecipientSuppressedError(to, suppression.record?.reason ?? 'damaged');
    const message = await this.preview(run, to);
    await this.waitForPermit(run);
    const domain = run.definition.sendingDomain ?? governors.defaultDomain;
    const result = await testSender.send({
      from: message.from,
      to: message.to,
      subject: `[TEST] ${message.subject}`,
      html: message.html,
      text: message.text,
      headers: message.headers,
      domain,
      // Ids only (the header is visible to the recipient); `test` keeps it out of campaign figures.
      // `customer-id` lets the provider's feedback on a test (a bounce, a complaint) suppress the address.
      variables: { 'customer-id': run.definition.customerId, 'campaign-id': run.id, test: 'true' },
    });
    logger.info({ event: 'campaign.test_sent', campaignId: run.id }, 'test message sent');
    return result;
  }

  /**
   * A permit like any worker's: of one slice, used while the clock is in it. The first slice
   * with one free in the next few seconds (under a low cap most slices have none), waited for.
   */
  private async waitForPermit(run: CampaignRun): Promise<void> {
    const { governors, clock } = this.deps;
    const now = clock.now();
    const chain = governors.chain(run.definition.sendingDomain, run.definition.customerId);
    const main = chain[0]!;
    let slice = main.sliceOf(now);
    if (now - main.sliceStart(slice) > governors.sliceMs / 2) slice++;
    const last = main.sliceOf(now + TEST_SEND_LOOKAHEAD_MS);
    while (slice <= last && chain.some((g) => g.free(slice) < 1)) slice++;
    if (slice > last) throw new NoPermitError(Math.max(1000, TEST_SEND_LOOKAHEAD_MS));
    for (const g of chain) g.take(slice, 1);
    // From here the permit rule is the workers' own (slice-schedule.ts): a one-slice schedule.
    // A late wake-up must not carry the call past its slice (the permit is spent either way).
    const schedule: SliceSchedule = { start: main.sliceStart(slice), sliceMs: governors.sliceMs, permits: [1] };
    for (let slot = nextSlot(schedule, [0], now); slot.kind !== 'now'; slot = nextSlot(schedule, [0], clock.now())) {
      if (slot.kind === 'over') throw new NoPermitError(governors.sliceMs * 2);
      await clock.sleep(slot.until - clock.now());
    }
  }

  /** Data row `row` of the campaign's audience, read from its head. */
  private async audienceRow(run: CampaignRun, row: number): Promise<AudienceRecipient> {
    const text = (await this.heads.read(run.definition.audienceKey)) ?? { head: '', complete: true };
    return this.deps.renderPool.audienceRow({ csv: text.head, customerId: run.definition.customerId, complete: text.complete }, row);
  }

  /** The audience's first valid recipient, read once per campaign from the start of the file. */
  private async sampleRecipient(run: CampaignRun): Promise<AudienceRecipient | undefined> {
    if (this.samples.has(run.id)) return this.samples.get(run.id);
    const { head, complete } = (await this.heads.read(run.definition.audienceKey)) ?? { head: '', complete: true };
    const pool = this.deps.renderPool;
    const fromHead = await pool.firstRecipient(head, run.definition.customerId);
    // Trusted when another row follows the first (so it is whole) or the head is the whole file;
    // else (one valid row in 64 KiB) the whole file is read.
    const first =
      complete || fromHead.valid > 1
        ? fromHead.recipient
        : (
            await pool.firstRecipient(
              (await this.deps.store.get(this.deps.buckets.campaigns, run.definition.audienceKey)) ?? '',
              run.definition.customerId,
            )
          ).recipient;
    this.samples.set(run.id, first);
    return first;
  }
}
