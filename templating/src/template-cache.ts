import { RecentMap, isBatonError, type CampaignRef } from '@baton/shared';
import { compileCampaignTemplate, type CompiledTemplate, type TemplateInput } from './template';

export interface TemplateCacheOptions {
  /** Campaigns kept per container; the least recently used one is dropped first. */
  maxSize?: number;
  /** The compiler; injectable so tests can count compilations. */
  compile?: (input: TemplateInput) => Promise<CompiledTemplate>;
}

/**
 * Compiled templates per campaign, so MJML runs once per campaign per container however many
 * recipients it renders. The promise is cached, so concurrent renders of one campaign share one
 * compilation. A permanent failure (an invalid template) stays cached: every recipient gets the
 * same answer without recompiling; any other failure (the store was unreachable) is dropped so
 * the next call tries again.
 */
export class TemplateCache {
  private readonly entries: RecentMap<string, Promise<CompiledTemplate>>;
  private readonly compile: (input: TemplateInput) => Promise<CompiledTemplate>;

  constructor(options: TemplateCacheOptions = {}) {
    this.entries = new RecentMap(Math.max(1, options.maxSize ?? 8));
    this.compile = options.compile ?? compileCampaignTemplate;
  }

  /** The campaign's compiled template; `load` fetches its definition on a miss. */
  get(ref: CampaignRef, load: () => Promise<TemplateInput>): Promise<CompiledTemplate> {
    const id = `${ref.customerId}/${ref.campaignId}`;
    const hit = this.entries.get(id);
    if (hit !== undefined) return hit;
    const pending = load().then((input) => this.compile(input));
    this.entries.set(id, pending);
    pending.catch((err: unknown) => {
      if (!(isBatonError(err) && err.kind === 'permanent') && this.entries.peek(id) === pending) this.entries.delete(id);
    });
    return pending;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
