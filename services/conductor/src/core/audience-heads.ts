import { parseKey, type ObjectStore } from '@baton/shared';
import { audienceHead } from '@baton/templating';

/** An audience's head (see `audienceHead`) and whether it is the whole file. */
export interface AudienceHeadText {
  head: string;
  complete: boolean;
}

/**
 * The heads of stored audiences, for previews and the editor's checks, which ask for them on
 * every keystroke or row chosen: a campaign's own audience never changes, so its head is kept
 * (the most recent `maxSize`), and the file is read once rather than per request. An upload may
 * be replaced under the same name: it is read afresh each time.
 */
export class AudienceHeads {
  private readonly kept = new Map<string, AudienceHeadText>();

  constructor(
    private readonly store: ObjectStore,
    private readonly bucket: string,
    private readonly maxSize = 16,
  ) {}

  /** `undefined` when there is no such object. */
  async read(key: string): Promise<AudienceHeadText | undefined> {
    const hit = this.kept.get(key);
    if (hit !== undefined) {
      this.kept.delete(key); // re-inserted: Map order is recency
      this.kept.set(key, hit);
      return hit;
    }
    const csv = await this.store.get(this.bucket, key);
    if (csv === undefined) return undefined;
    const head = audienceHead(csv);
    const text = { head, complete: head.length === csv.length };
    if (isCampaignAudience(key)) {
      this.kept.set(key, text);
      for (const oldest of this.kept.keys()) {
        if (this.kept.size <= this.maxSize) break;
        this.kept.delete(oldest);
      }
    }
    return text;
  }

  /** Forgets a campaign's audience (it was deleted). */
  forget(key: string): void {
    this.kept.delete(key);
  }
}

function isCampaignAudience(key: string): boolean {
  try {
    parseKey.audience(key);
    return true;
  } catch {
    return false;
  }
}
