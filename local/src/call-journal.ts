import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { parseKey, type ObjectStore, type OutgoingEmail, type PutOptions, type Sender } from '@baton/shared';

/**
 * The provider-call journal (`BATON_CALL_JOURNAL`): one JSON line appended at each step of a
 * send that a crash could cut — the claim's write (or release) begun and acknowledged, the
 * provider call started and answered — each written with a synchronous `write(2)` before the code goes on. A
 * line written is in the kernel's hands, so it outlives a `kill -9` of this process (not a power
 * cut: it is not fsynced). After a crash it tells, for each claim without an outcome, whether its
 * call had started. The fault suite counts the calls in flight at each kill from it. Recipients
 * are named by their ids only, never by address.
 */

export type CallJournalEvent =
  /** The claim's conditional create was begun: from here it may be on disk. */
  | 'claiming'
  /** The store acknowledged the claim (or refused it: `claim-refused`). */
  | 'claimed'
  | 'claim-refused'
  /** The claim's delete was begun (its call will not be made): until `released`, it may still be on disk. */
  | 'releasing'
  | 'released'
  | 'release-failed'
  /** The sender was called: nothing may have left yet, or everything. */
  | 'start'
  /** The sender resolved (`answer`) or threw (`error`, with its code). */
  | 'answer'
  | 'error';

export interface CallJournalLine {
  /** Epoch ms. */
  t: number;
  e: CallJournalEvent;
  campaignId: string | undefined;
  recipientId: string | undefined;
  /** The lease of the call (`start`, `answer`, `error`). */
  leaseId?: string;
  /** The error's code (`error`, `claim-refused`). */
  code?: string;
}

/** An append-only journal file, shared by every life of the process (opened for appending). */
export class CallJournal {
  private readonly fd: number;
  private open = true;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'a');
  }

  write(line: CallJournalLine): void {
    if (this.open) writeSync(this.fd, JSON.stringify(line) + '\n');
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
  }
}

/** `sender`, with every call journalled as it starts and as it ends. */
export function journalledSender(sender: Sender, journal: CallJournal): Sender {
  return {
    async send(msg: OutgoingEmail) {
      const ids = {
        campaignId: msg.variables['campaign-id'],
        recipientId: msg.variables['recipient-id'],
        leaseId: msg.variables['lease-id'],
      };
      // Before the call, in the same synchronous step: no call starts unjournalled.
      journal.write({ t: Date.now(), e: 'start', ...ids });
      try {
        const answer = await sender.send(msg);
        journal.write({ t: Date.now(), e: 'answer', ...ids });
        return answer;
      } catch (error) {
        journal.write({ t: Date.now(), e: 'error', ...ids, ...codeOf(error) });
        throw error;
      }
    },
  };
}

/** `store`, with every claim's conditional create and delete journalled as it begins and as it ends; anything else passes through. */
export function journalledClaims(store: ObjectStore, journal: CallJournal): ObjectStore {
  return {
    get: (bucket, key) => store.get(bucket, key),
    getHead: (bucket, key, maxBytes) => store.getHead(bucket, key, maxBytes),
    putStream: (bucket, key, chunks, options) => store.putStream(bucket, key, chunks, options),
    async delete(bucket: string, key: string) {
      const ref = claimOf(key);
      if (ref === undefined) return store.delete(bucket, key);
      journal.write({ t: Date.now(), e: 'releasing', ...ref });
      try {
        await store.delete(bucket, key);
      } catch (error) {
        journal.write({ t: Date.now(), e: 'release-failed', ...ref, ...codeOf(error) });
        throw error;
      }
      journal.write({ t: Date.now(), e: 'released', ...ref });
    },
    list: (bucket, prefix, options) => store.list(bucket, prefix, options),
    async put(bucket: string, key: string, body: string | Uint8Array, options?: PutOptions) {
      const ref = options?.ifNoneMatch === '*' ? claimOf(key) : undefined;
      if (ref === undefined) return store.put(bucket, key, body, options);
      journal.write({ t: Date.now(), e: 'claiming', ...ref });
      try {
        await store.put(bucket, key, body, options);
      } catch (error) {
        journal.write({ t: Date.now(), e: 'claim-refused', ...ref, ...codeOf(error) });
        throw error;
      }
      journal.write({ t: Date.now(), e: 'claimed', ...ref });
    },
  };
}

function claimOf(key: string): { campaignId: string; recipientId: string } | undefined {
  if (!key.includes('/claims/')) return undefined;
  try {
    const { campaignId, recipientId } = parseKey.ledger(key);
    return { campaignId, recipientId };
  } catch {
    return undefined;
  }
}

function codeOf(error: unknown): { code?: string } {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? { code } : {};
}

/** The journal's lines, oldest first; a last line cut short (the process died writing it) is skipped. */
export function readCallJournal(file: string): CallJournalLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: CallJournalLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as CallJournalLine);
    } catch {
      // a torn last line
    }
  }
  return out;
}
