import {
  audienceReport,
  keys,
  parseJson,
  parseKey,
  parseWith,
  stubRecord,
  LedgerRecordInvalidError,
  ValidationError,
  type AudienceReport,
  type Buckets,
  type Ledger,
  type ObjectStore,
  type OutcomeRecord,
  type RecipientRef,
  type RecipientRow,
  type RecipientStatus,
} from '@baton/shared';
import type { CampaignRun, RunStatus } from './campaign-run';

/**
 * A recipient's delivery record from the provider's feedback (webhooks), or `null`. The one
 * place the list joins deliveries: wired to the ledger's delivery records at the merge with the
 * webhooks work; until then every recipient's is `null`.
 */
export type DeliveryOf = (ref: RecipientRef) => Promise<unknown>;

/** What the provider's webhooks said of a recipient (delivered, bounced, complained…), or null; a damaged record lists the row without it. */
export function deliveriesFrom(ledger: Ledger): DeliveryOf {
  return async (ref) => {
    try {
      const d = await ledger.readDelivery(ref);
      return d ? { status: d.status, at: d.at, ...(d.reason !== undefined ? { reason: d.reason } : {}) } : null;
    } catch (err) {
      if (err instanceof LedgerRecordInvalidError) return null;
      throw err;
    }
  };
}

export interface RecipientListDeps {
  store: ObjectStore;
  buckets: Buckets;
  ledger: Ledger;
  deliveryOf: DeliveryOf;
}

export interface RecipientListOptions {
  status?: RecipientStatus;
  /** From a previous page's `next`: the listing goes on after it. */
  cursor?: string;
  /** Only recipients whose address contains this, case-insensitively (`?q=`); an empty one finds everyone. */
  q?: string;
  /** How much a search may read before the listing stops (JSON pages; a CSV reads on to the end). */
  budget?: SearchBudget;
}

/**
 * A search reads every candidate's address, matched or not: a page that finds few would read the
 * whole campaign. With a budget it stops after examining `max` recipients and says where, so the
 * page ends there with a cursor that goes on after them.
 */
export interface SearchBudget {
  readonly max: number;
  /** Set when the listing stopped for the budget: the cursor after the last recipient examined. */
  stoppedAt?: string;
}

/** One listed recipient and the cursor that lists what comes after it. */
export interface ListedRecipient {
  row: RecipientRow;
  cursor: string;
}

/** Keys read per listing page: memory stays at one page of each listing, whatever the campaign's size. */
const PAGE = 1000;

/**
 * Every recipient of a campaign, in a stable order, as an async generator (the HTTP layer streams
 * it): first the stubbed recipients in key order (their recipient id), then the audience rows that
 * never got a stub (invalid, duplicate) in line order. The cursor names the last one listed, so a
 * page never repeats or skips a recipient however the statuses change between pages.
 *
 * Where each one is: the run's memory for in flight and retrying; the ledger for outcomes (the
 * truth); queued otherwise (or cancelled, once a cancelled campaign has ended).
 */
export async function* listRecipients(
  deps: RecipientListDeps,
  run: CampaignRun,
  options: RecipientListOptions = {},
): AsyncGenerator<ListedRecipient> {
  const cursor = decodeCursor(options.cursor);
  const search = searchOf(options);
  if (cursor.kind === 'recipient') yield* stubbedRecipients(deps, run, { ...options, search }, cursor.after);
  if (search?.budget.stoppedAt !== undefined) return;
  const report = run.report ?? (await readReport(deps, run));
  if (!report || (options.status !== undefined && options.status !== 'invalid' && options.status !== 'duplicate')) return;
  const from = cursor.kind === 'problem' ? cursor.after + 1 : 0;
  for (let i = from; i < report.problems.length; i++) {
    const p = report.problems[i]!;
    if (options.status !== undefined && p.kind !== options.status) continue;
    const cursor = encodeCursor(`p${i}`);
    const email = p.email ?? null;
    if (!search || search.examined(email, cursor)) {
      yield {
        row: { email, status: p.kind, reason: `line ${p.line}: ${p.reason}`, at: null, providerMessageId: null, delivery: null },
        cursor,
      };
    }
    if (search?.budget.stoppedAt !== undefined) return;
  }
}

/** A search's needle and its budget: `examined` says whether an address matches, and stops the budget when it runs out. */
interface Search {
  budget: SearchBudget;
  examined(email: string | null, cursor: string): boolean;
}

function searchOf(options: RecipientListOptions): Search | undefined {
  const needle = options.q?.trim().toLowerCase();
  if (!needle) return undefined;
  const budget = options.budget ?? { max: Number.POSITIVE_INFINITY };
  let count = 0;
  return {
    budget,
    examined(email, cursor) {
      const found = email !== null && email.toLowerCase().includes(needle);
      if (++count >= budget.max) budget.stoppedAt = cursor;
      return found;
    },
  };
}

async function* stubbedRecipients(
  deps: RecipientListDeps,
  run: CampaignRun,
  { status, search }: { status?: RecipientStatus; search?: Search },
  after: string | undefined,
): AsyncGenerator<ListedRecipient> {
  // Cancelled and nothing left out with a worker (ended, or ending with nothing in flight): a
  // recipient not settled is never sent, as the counts say (campaign-run.ts counts()).
  const ended = run.state.status === 'cancelled' && (run.state.finishedAt !== undefined || run.counts().inFlight === 0);
  const rows = inOrder(candidates(deps, run, status, after, ended), READS_AT_ONCE, async (c) => {
    const [outcome, email, delivery] = await Promise.all([
      c.hasOutcome ? readOutcome(deps.ledger, c.recipient) : undefined,
      c.stubKey === undefined ? null : emailOf(deps, c.stubKey),
      deps.deliveryOf(c.recipient),
    ]);
    const row = rowOf(c.known, outcome, ended);
    const cursor = encodeCursor(`r${c.recipient.recipientId}`);
    if (status !== undefined && row.status !== status) return { cursor };
    return { cursor, listed: { row: { ...row, email, delivery: delivery ?? null }, cursor } };
  });
  for await (const { cursor, listed } of rows) {
    // Every recipient read counts against a search's budget, the ones of another status too.
    const found = search ? search.examined(listed?.row.email ?? null, cursor) && listed : listed;
    if (found) yield found;
    if (search?.budget.stoppedAt !== undefined) return;
  }
}

interface Candidate {
  recipient: RecipientRef;
  /** Absent when the stub is gone (expired) and only the outcome lists the recipient. */
  stubKey: string | undefined;
  known: RunStatus | undefined;
  hasOutcome: boolean;
}

/**
 * The recipients after `after` that may have `status`, with whether an outcome record exists: a
 * merge of the stub and outcome key listings, both in recipient-id order (the shard is the id's
 * first two digits). A recipient whose stub is gone (the stubs bucket's lifecycle on AWS) is still
 * listed from its outcome, without its address.
 */
async function* candidates(
  deps: RecipientListDeps,
  run: CampaignRun,
  status: RecipientStatus | undefined,
  after: string | undefined,
  ended: boolean,
): AsyncGenerator<Candidate> {
  const ref = run.ref;
  const outcomes = keysAfter(
    deps.store,
    deps.buckets.campaigns,
    keys.outcomesPrefix(ref),
    after && keys.outcome({ ...ref, recipientId: after }),
  );
  const stubs = keysAfter(deps.store, deps.buckets.stubs, keys.stubsPrefix(ref), after && keys.stub({ ...ref, recipientId: after }));
  let outcome = await outcomes.next();
  let stub = await stubs.next();
  while (!outcome.done || !stub.done) {
    const outcomeId = outcome.done ? undefined : parseKey.ledger(outcome.value).recipientId;
    const stubId = stub.done ? undefined : parseKey.stub(stub.value).recipientId;
    const recipientId = outcomeId === undefined || (stubId !== undefined && stubId < outcomeId) ? stubId! : outcomeId;
    const stubKey = stubId === recipientId ? (stub.value as string) : undefined;
    const hasOutcome = outcomeId === recipientId;
    if (stubKey !== undefined) stub = await stubs.next();
    if (hasOutcome) outcome = await outcomes.next();
    const known = run.restoredFromSummary ? undefined : run.statusOf(recipientId);
    if (status === undefined || mayBe(status, known, hasOutcome, ended))
      yield { recipient: { ...ref, recipientId }, stubKey, known, hasOutcome };
  }
}

/** Reads for this many recipients at once: the store's latency overlaps, the order stays the listing's. */
const READS_AT_ONCE = 32;

/** `fn` over `source` with up to `width` calls at once, yielding results in the source's order. */
async function* inOrder<T, R>(source: AsyncIterable<T>, width: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const pending: Promise<R>[] = [];
  for await (const item of source) {
    pending.push(fn(item));
    if (pending.length >= width) yield await pending.shift()!;
  }
  while (pending.length > 0) yield await pending.shift()!;
}

/** Whether a recipient can have `status`, from what is known without reading its records. */
function mayBe(status: RecipientStatus, known: RunStatus | undefined, hasOutcome: boolean, ended: boolean): boolean {
  if (known?.status === 'inFlight' || known?.status === 'retrying') return status === known.status;
  if (hasOutcome) return known === undefined || known.status === status || known.status === 'inDoubt';
  if (known !== undefined) return known.status === status;
  return status === (ended ? 'cancelled' : 'queued');
}

function rowOf(known: RunStatus | undefined, outcome: OutcomeRecord | 'damaged' | undefined, ended: boolean): RecipientRow {
  const row = (status: RecipientStatus, fields: Partial<RecipientRow> = {}): RecipientRow => ({
    email: null,
    status,
    reason: null,
    at: null,
    providerMessageId: null,
    delivery: null,
    ...fields,
  });
  if (known?.status === 'inFlight') return row('inFlight');
  if (known?.status === 'retrying') return row('retrying', { at: new Date(known.at).toISOString() });
  if (outcome === 'damaged') return row('inDoubt', { reason: 'OUTCOME_INVALID: its outcome record cannot be read; never sent again' });
  if (outcome)
    return row(outcome.status, { reason: outcome.reason ?? null, at: outcome.at, providerMessageId: outcome.providerId ?? null });
  if (known !== undefined) return row(known.status);
  return row(ended ? 'cancelled' : 'queued');
}

async function readOutcome(ledger: Ledger, ref: RecipientRef): Promise<OutcomeRecord | 'damaged' | undefined> {
  try {
    return await ledger.readOutcome(ref);
  } catch (error) {
    if (error instanceof LedgerRecordInvalidError) return 'damaged';
    throw error;
  }
}

async function emailOf(deps: RecipientListDeps, stubKey: string): Promise<string | null> {
  const text = await deps.store.get(deps.buckets.stubs, stubKey);
  if (text === undefined) return null;
  try {
    return parseWith(stubRecord, parseJson(text, stubKey), 'STUB_INVALID', stubKey).email;
  } catch {
    return null; // a damaged stub is named by the reconciler; its row still lists the recipient
  }
}

async function readReport(deps: RecipientListDeps, run: CampaignRun): Promise<AudienceReport | undefined> {
  const key = keys.audienceReport(run.ref);
  const text = await deps.store.get(deps.buckets.campaigns, key);
  if (text === undefined) return undefined;
  try {
    return parseWith(audienceReport, parseJson(text, key), 'REPORT_INVALID', key);
  } catch {
    return undefined; // named on the campaign by the reconciler
  }
}

async function* keysAfter(store: ObjectStore, bucket: string, prefix: string, startAfter: string | undefined): AsyncGenerator<string> {
  let from = startAfter || undefined;
  for (;;) {
    const page = await store.list(bucket, prefix, { startAfter: from, limit: PAGE });
    yield* page.keys;
    if (page.nextStartAfter === undefined) return;
    from = page.nextStartAfter;
  }
}

type Cursor = { kind: 'recipient'; after: string | undefined } | { kind: 'problem'; after: number };

/** Opaque to clients (base64url), plain inside: `r{recipientId}` or `p{problem index}`. */
function encodeCursor(plain: string): string {
  return Buffer.from(plain, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): Cursor {
  if (cursor === undefined || cursor === '') return { kind: 'recipient', after: undefined };
  const plain = Buffer.from(cursor, 'base64url').toString('utf8');
  if (/^r[0-9a-f]{32}$/.test(plain)) return { kind: 'recipient', after: plain.slice(1) };
  if (/^p\d{1,9}$/.test(plain)) return { kind: 'problem', after: Number(plain.slice(1)) };
  throw new ValidationError('CURSOR_INVALID', [{ where: 'query.cursor', message: 'is not a cursor this listing gave' }]);
}
