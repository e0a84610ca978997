import { randomBytes } from 'node:crypto';
import { ValidationError, type CampaignDefinitionView } from '@baton/shared';
import { audienceHead, type DraftAudience, type DraftCheck, type DraftPreview, type DraftTemplate } from '@baton/templating';
import type { AudienceHeads } from './audience-heads';
import type { CampaignRun } from './campaign-run';
import { audienceKeySource } from './campaigns';
import type { RenderPool } from './ports';

/**
 * The campaign editor's server side: a draft (not stored, not a campaign yet) checked and
 * previewed while it is edited, in the render pool, with the rules a create applies; and a
 * stored campaign's definition read back for a clone.
 */

/** A draft as the editor sends it, already parsed at the HTTP edge. */
export interface DraftInput extends DraftTemplate {
  /** The audience's text, or its head (the editor sends the first 64 KiB of a file). */
  audienceCsv?: string;
  /** An upload (`uploads/{customerId}/…`) or a campaign's audience, instead of `audienceCsv`. */
  audienceKey?: string;
  /** Whose audience it is (recipient ids); from `audienceKey` when it names one. */
  customerId?: string;
}

/** What a new campaign needs to be created like an existing one (`POST /api/campaigns` takes it back): the API's type. */
export type { CampaignDefinitionView };

export interface DraftsDeps {
  /** Where audiences named by key are read from. */
  heads: AudienceHeads;
  renderPool: RenderPool;
  /** Where links in previews point (the conductor's public URL). */
  publicUrl: string;
  /** The sending domain of campaigns stored without one. */
  defaultDomain: string;
}

export class Drafts {
  /**
   * Unsubscribe links in a draft's preview are signed with a secret of this process alone: the
   * conductor refuses them, so clicking one in a preview unsubscribes nobody.
   */
  private readonly previewSecret = randomBytes(32).toString('base64url');

  constructor(private readonly deps: DraftsDeps) {}

  /** Every problem of the draft, as data: the template's, the audience's, unknown merge fields. */
  async check(input: DraftInput): Promise<DraftCheck> {
    return this.deps.renderPool.checkDraft(template(input), await this.audience(input));
  }

  /** The draft rendered for data row `row` (1-based) of its audience, as that recipient gets it. */
  async preview(input: DraftInput, row: number): Promise<DraftPreview> {
    const settings = { publicUrl: this.deps.publicUrl, unsubscribeSecret: this.previewSecret };
    return this.deps.renderPool.previewDraft(template(input), await this.audience(input), row, settings);
  }

  /** A stored campaign's definition, as a clone needs it (its start and windows as they were set). */
  definition(run: CampaignRun): CampaignDefinitionView {
    const { definition, state } = run;
    return {
      name: definition.name,
      customerId: definition.customerId,
      sendingDomain: definition.sendingDomain ?? this.deps.defaultDomain,
      from: definition.from,
      subject: definition.subject,
      mjml: definition.mjml,
      audienceKey: definition.audienceKey,
      ...(state.sendAt !== undefined ? { sendAt: state.sendAt } : {}),
      ...(state.sendWindow !== undefined ? { sendWindow: state.sendWindow } : {}),
      ...(state.localSend !== undefined ? { localSend: state.localSend } : {}),
    };
  }

  /** The draft's audience text (from the request, or the head of the object it names); none without one. */
  private async audience(input: DraftInput): Promise<DraftAudience | undefined> {
    // Only the head is read (and sent to the pool), whatever the caller sent: its cost stays bounded.
    if (input.audienceCsv !== undefined) {
      const head = audienceHead(input.audienceCsv);
      return { csv: head, customerId: input.customerId ?? 'draft', ...(head.length < input.audienceCsv.length ? { complete: false } : {}) };
    }
    if (input.audienceKey === undefined) return undefined;
    const key = input.audienceKey;
    audienceKeySource(key, input.customerId, 'body.audienceKey');
    const text = await this.deps.heads.read(key);
    if (text === undefined) throw new ValidationError('DRAFT_INVALID', [{ where: 'body.audienceKey', message: 'no such object' }]);
    return { csv: text.head, customerId: input.customerId ?? key.split('/')[1]!, complete: text.complete };
  }
}

function template(input: DraftInput): DraftTemplate {
  return { subject: input.subject, mjml: input.mjml, ...(input.from !== undefined ? { from: input.from } : {}) };
}
