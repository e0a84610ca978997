import { parseKey, type ObjectStore } from '@baton/shared';
import { AUDIENCE_HEAD_BYTES, audienceHead } from '@baton/templating';

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
    const text = await readAudienceHead(this.store, this.bucket, key);
    if (text === undefined) return undefined;
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

/**
 * A stored audience's head as `audienceHead` cuts it, from a ranged read of its first bytes (the
 * store's `getHead`): checking a 200 MB upload's header reads 64 KiB of it, not all of it. Only a
 * header row longer than the head (no line break in it) has the whole object read, as
 * `audienceHead` then gives the whole text. `undefined` when there is no such object.
 */
export async function readAudienceHead(store: ObjectStore, bucket: string, key: string): Promise<AudienceHeadText | undefined> {
  const first = await store.getHead(bucket, key, AUDIENCE_HEAD_BYTES + 1);
  if (first === undefined) return undefined;
  const bytes = Buffer.from(first.bytes.buffer, first.bytes.byteOffset, first.bytes.byteLength);
  if (bytes.length < first.size) {
    const cut = bytes.lastIndexOf(0x0a, AUDIENCE_HEAD_BYTES) + 1;
    if (cut > 0) return { head: bytes.toString('utf8', 0, cut), complete: false };
  }
  const csv = bytes.length < first.size ? await store.get(bucket, key) : bytes.toString('utf8');
  if (csv === undefined) return undefined;
  const head = audienceHead(csv);
  return { head, complete: head.length === csv.length };
}
