import {
  Ledger,
  ManualClock,
  keys,
  silentLogger,
  type CheckInRequest,
  type Lease,
  type ProviderLookup,
  type ProviderRecord,
  type RecipientRow,
  type SendResult,
  type WorkerInvocation,
} from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { Conductor } from '../../src/core/conductor';
import type { SearchBudget } from '../../src/core/recipient-list';
import { buckets, testGovernors, testSettings } from '../fixtures';
import { START, ref, storedCampaign } from '../harness';

/**
 * Recipient lists, settling in-doubt sends from the provider's records, and retry/resend, on the
 * conductor core with a memory store and a manual clock. The "workers" here follow the real
 * protocol: they claim each key in the ledger before "calling the provider", keep the claim when
 * the outcome is in doubt, release it when the call certainly failed, and report what happened;
 * `calls` counts provider calls that were accepted, per recipient.
 */

const SETTLE_MS = 60_000;

/** A store whose next matching operation fails: a crash of the conductor at exactly that point. */
class CrashingStore extends MemoryObjectStore {
  crashOn: { readonly op: 'put' | 'delete'; readonly match: RegExp } | undefined;
  private trip(op: 'put' | 'delete', key: string): void {
    if (this.crashOn?.op === op && this.crashOn.match.test(key)) {
      this.crashOn = undefined;
      throw new Error(`crash before ${op} ${key}`);
    }
  }
  override async put(bucket: string, key: string, body: string, options?: { ifNoneMatch?: '*' }): Promise<void> {
    this.trip('put', key);
    return super.put(bucket, key, body, options);
  }
  override async delete(bucket: string, key: string): Promise<void> {
    this.trip('delete', key);
    return super.delete(bucket, key);
  }
}

type Behaviour = (recipientId: string, attempt: number) => 'sent' | 'inDoubt' | 'lostInDoubt' | 'retryable';

interface World {
  store: CrashingStore;
  clock: ManualClock;
  ids: string[];
  emails: Map<string, string>;
  /** Accepted provider calls per recipient. */
  calls: Map<string, number>;
  lookupAnswers: { mode: 'records' | 'down' };
  conductor: Conductor;
  invocations: WorkerInvocation[];
  restart(): Promise<void>;
}

async function world(n: number): Promise<World> {
  const store = new CrashingStore();
  const clock = new ManualClock(START);
  const ids = await storedCampaign(store, n);
  const emails = new Map<string, string>();
  for (const [i, recipientId] of ids.entries()) {
    const email = `r${i}@example.com`;
    emails.set(recipientId, email);
    const stub = { version: 1, ...ref, recipientId, email, fields: { email }, line: i + 2 };
    await store.put(buckets.stubs, keys.stub({ ...ref, recipientId }), JSON.stringify(stub));
  }
  const calls = new Map<string, number>();
  const lookupAnswers = { mode: 'records' as 'records' | 'down' };
  const lookup: ProviderLookup = {
    find: async (q): Promise<ProviderRecord> => {
      if (lookupAnswers.mode === 'down') throw new Error('provider records unavailable');
      return (calls.get(q.recipientId) ?? 0) > 0 ? { kind: 'accepted', providerId: `<${q.recipientId}@mg>` } : { kind: 'none' };
    },
  };
  const w = { store, clock, ids, emails, calls, lookupAnswers, invocations: [] as WorkerInvocation[] } as unknown as World;
  const build = () =>
    new Conductor({
      store,
      buckets,
      clock,
      logger: silentLogger,
      governors: testGovernors(620),
      invoker: { invoke: async (i) => void w.invocations.push(i) },
      topic: { publish: async () => undefined },
      lookup,
      settings: testSettings({ settleAfterMs: SETTLE_MS, maxAttempts: 2 }),
    });
  w.restart = async () => {
    w.invocations.length = 0;
    w.conductor = build();
    await w.conductor.start();
    clock.advance(130_000); // no governor checkpoint: wait out what a predecessor could have granted
  };
  await w.restart();
  return w;
}

/** One lease worked as a real worker would: claim, call, record, report. */
async function work(w: World, lease: Lease, behave: Behaviour, attempts: Map<string, number>): Promise<CheckInRequest> {
  const ledger = new Ledger({ store: w.store, bucket: buckets.campaigns, clock: w.clock });
  const results: SendResult[] = [];
  for (const recipientId of lease.recipientIds) {
    const r = { ...ref, recipientId };
    if ((await ledger.claim(r, lease.leaseId)).kind !== 'ours') {
      results.push({ recipientId, status: 'claimedElsewhere' });
      continue;
    }
    const attempt = (attempts.get(recipientId) ?? 0) + 1;
    attempts.set(recipientId, attempt);
    const what = behave(recipientId, attempt);
    if (what === 'sent' || what === 'inDoubt') w.calls.set(recipientId, (w.calls.get(recipientId) ?? 0) + 1);
    if (what === 'retryable') {
      await ledger.releaseClaim(r);
      results.push({ recipientId, status: 'retryable', code: 'PROVIDER_UNAVAILABLE', reason: 'PROVIDER_UNAVAILABLE: 503' });
    } else if (what === 'sent') {
      await ledger.recordOutcome(r, { status: 'sent', providerId: `<${recipientId}@mg>`, leaseId: lease.leaseId }, 'always');
      results.push({ recipientId, status: 'sent', providerId: `<${recipientId}@mg>` });
    } else {
      await ledger.recordOutcome(r, { status: 'inDoubt', reason: 'PROVIDER_TIMEOUT', leaseId: lease.leaseId }, 'always');
      results.push({ recipientId, status: 'inDoubt', reason: 'PROVIDER_TIMEOUT' });
    }
  }
  return { leaseId: lease.leaseId, workerId: lease.workerId, results, unattempted: [], permitsUsed: results.length, wantsMore: false };
}

/** Ticks, works every lease and advances the clock until `done()` (or a bound). */
async function run(w: World, behave: Behaviour, done: () => boolean, attempts = new Map<string, number>()): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) {
    await w.conductor.tick();
    for (const { lease } of w.invocations.splice(0)) await w.conductor.checkIn(await work(w, lease, behave, attempts));
    await w.conductor.settleInDoubt();
    w.clock.advance(1_000);
  }
  if (!done()) throw new Error(`not done: ${JSON.stringify(w.conductor.getCampaign(ref.campaignId).counts)}`);
}

const view = (w: World) => w.conductor.getCampaign(ref.campaignId);
const isDone = (w: World) => () => view(w).status === 'done';

async function list(w: World, status?: string): Promise<RecipientRow[]> {
  const rows: RecipientRow[] = [];
  for await (const { row } of w.conductor.recipients(ref.campaignId, status ? { status: status as never } : {})) rows.push(row);
  return rows;
}

function sumOf(counts: Record<string, number>): number {
  const parts = [
    'sent',
    'failed',
    'invalid',
    'duplicate',
    'suppressed',
    'inDoubt',
    'cancelled',
    'inFlight',
    'queued',
    'retrying',
    'notAccepted',
  ];
  return parts.reduce((n, p) => n + counts[p]!, 0);
}

describe('recipient lists', () => {
  it('says where every recipient is while sending, and the counts add up at every tick', async () => {
    // Prepare: the third recipient's first call is refused (503): it waits to be retried.
    const w = await world(12);
    const third = w.ids[2]!;
    // Act / Assess
    const attempts = new Map<string, number>();
    for (let i = 0; i < 60 && view(w).status !== 'done'; i++) {
      await w.conductor.tick();
      for (const { lease } of w.invocations.splice(0))
        await w.conductor.checkIn(await work(w, lease, (id, n) => (id === third && n === 1 ? 'retryable' : 'sent'), attempts));
      const counts = view(w).counts as unknown as Record<string, number>;
      expect(sumOf(counts)).toBe(counts.total);
      if (counts.retrying! > 0) {
        const retrying = await list(w, 'retrying');
        expect(retrying.map((r) => r.email)).toEqual([w.emails.get(third)]);
        expect(Date.parse(retrying[0]!.at!)).toBeGreaterThan(w.clock.now());
      }
      w.clock.advance(1_000);
    }
    const rows = await list(w);
    expect(rows).toHaveLength(13);
    expect(rows.filter((r) => r.status === 'sent')).toHaveLength(12);
    expect(rows.at(-1)).toMatchObject({ status: 'invalid', reason: 'line 2: bad' });
    expect(w.calls.get(third)).toBe(1);
  });

  it("shows what the provider's webhooks said of each recipient, and nothing for the others", async () => {
    // Prepare
    const w = await world(3);
    const ledger = new Ledger({ store: w.store, bucket: buckets.campaigns, clock: w.clock });
    const [bounced, delivered] = w.ids as [string, string];
    await ledger.recordDelivery(
      { ...ref, recipientId: bounced },
      { event: 'bounced', at: '2026-11-21T12:01:00.000Z', reason: '550 no such user' },
    );
    await ledger.recordDelivery({ ...ref, recipientId: delivered }, { event: 'delivered', at: '2026-11-21T12:02:00.000Z' });
    // Act
    const rows = await list(w);
    // Assess
    const deliveryOf = (id: string) => rows.find((r) => r.email === w.emails.get(id))!.delivery;
    expect(deliveryOf(bounced)).toEqual({ status: 'bounced', at: '2026-11-21T12:01:00.000Z', reason: '550 no such user' });
    expect(deliveryOf(delivered)).toEqual({ status: 'delivered', at: '2026-11-21T12:02:00.000Z' });
    expect(deliveryOf(w.ids[2]!)).toBeNull();
  });

  it('still lists every sent recipient, with its status and without its address, once its stub has expired', async () => {
    // Prepare: a finished campaign whose stubs the stubs bucket's lifecycle has removed, all but the first.
    const w = await world(6);
    await run(w, () => 'sent', isDone(w));
    const stubKeys = (await w.store.list(buckets.stubs, keys.stubsPrefix(ref))).keys;
    for (const key of stubKeys.slice(1)) await w.store.delete(buckets.stubs, key);
    // Act
    const rows = await list(w);
    const sent = await list(w, 'sent');
    // Assess
    const stubbed = rows.filter((r) => r.status === 'sent');
    expect(stubbed).toHaveLength(6);
    expect(sent).toHaveLength(6);
    expect(stubbed.filter((r) => r.email !== null)).toHaveLength(1);
    expect(stubbed.every((r) => r.at !== null && r.providerMessageId !== null)).toBe(true);
  });

  it('lists as cancelled, as the counts do, the recipients a cancel left unsent, from the moment nothing is in flight', async () => {
    // Prepare: leases out, then a cancel: those leased are in flight, the rest wait for them to come back.
    const w = await world(6);
    await w.conductor.tick();
    const leases = w.invocations.splice(0).map((i) => i.lease);
    await w.conductor.cancel(ref.campaignId);
    const whileOut = await list(w);
    // Act: the leases come back with nothing sent.
    for (const lease of leases) {
      const { leaseId, workerId, recipientIds } = lease;
      await w.conductor.checkIn({ leaseId, workerId, results: [], unattempted: recipientIds, permitsUsed: 0, wantsMore: false });
    }
    const afterwards = await list(w);
    // Assess
    const statuses = (rows: RecipientRow[]) => rows.map((r) => r.status).filter((s) => s !== 'invalid'); // the audience's bad row
    expect(statuses(whileOut)).toEqual(statuses(whileOut).filter((s) => s === 'inFlight' || s === 'queued'));
    expect(statuses(afterwards)).toEqual(Array(6).fill('cancelled'));
    expect(view(w).counts.cancelled).toBe(6);
  });

  it('pages with a stable cursor that neither repeats nor skips anyone', async () => {
    const w = await world(25);
    await run(w, () => 'sent', isDone(w));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const it = w.conductor.recipients(ref.campaignId, { cursor });
      let n = 0;
      for await (const { row, cursor: c } of it) {
        seen.push(row.email ?? row.reason!);
        cursor = c;
        if (++n === 7) break;
      }
      if (n < 7) break;
    }
    expect(seen).toHaveLength(26);
    expect(new Set(seen).size).toBe(26);
    await expect(async () => {
      for await (const _ of w.conductor.recipients(ref.campaignId, { cursor: 'bm90LWEtY3Vyc29y' })) void _;
    }).rejects.toThrow('not a cursor this listing gave');
  });

  it('finds recipients by a part of their address in any case, examining at most its budget per page', async () => {
    // Prepare: r0…r24@example.com, and the audience's invalid row (no address).
    const w = await world(25);
    await run(w, () => 'sent', isDone(w));

    // Act: pages of a search that may examine 4 recipients each, each going on from where the last stopped.
    const found: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const budget: SearchBudget = { max: 4 };
      pages++;
      for await (const { row } of w.conductor.recipients(ref.campaignId, { q: ' R1 ', cursor, budget })) found.push(row.email!);
      if (budget.stoppedAt === undefined) break;
      cursor = budget.stoppedAt;
    }

    // Assess: r1 and r10…r19 once each; 26 recipients examined four at a time.
    expect(found.sort()).toEqual(['r1@example.com', ...Array.from({ length: 10 }, (_, i) => `r1${i}@example.com`)].sort());
    expect(pages).toBe(7);
    // With a status too; and without a budget, the listing reads on to the end.
    const sent = [];
    for await (const { row } of w.conductor.recipients(ref.campaignId, { q: 'r2', status: 'sent' })) sent.push(row.email);
    expect(sent.sort()).toEqual(['r2', 'r20', 'r21', 'r22', 'r23', 'r24'].map((r) => `${r}@example.com`).sort());
    const none = [];
    for await (const listed of w.conductor.recipients(ref.campaignId, { q: 'r2', status: 'failed' })) none.push(listed);
    expect(none).toEqual([]);
  });
});

describe('settling in-doubt sends from the provider', () => {
  it('settles as sent what the provider took, notAccepted what it never saw after the settle time, and leaves the rest in doubt while it cannot answer', async () => {
    // Prepare: two answers lost after the provider took the message, two lost before it did.
    const w = await world(10);
    const [tookA, tookB, lostA, lostB] = w.ids;
    w.lookupAnswers.mode = 'down';
    const behave: Behaviour = (id) => (id === tookA || id === tookB ? 'inDoubt' : id === lostA || id === lostB ? 'lostInDoubt' : 'sent');
    await run(w, behave, isDone(w));
    expect((await list(w, 'inDoubt')).map((r) => r.email).sort()).toEqual([tookA, tookB, lostA, lostB].map((id) => w.emails.get(id!)));
    w.clock.advance(SETTLE_MS * 2);
    await w.conductor.settleInDoubt();
    expect(view(w).counts.inDoubt).toBe(4); // the provider could not answer: still in doubt

    // Act: its records can be read again.
    w.lookupAnswers.mode = 'records';
    w.clock.advance(SETTLE_MS);
    await w.conductor.settleInDoubt();

    // Assess
    const byEmail = new Map((await list(w)).map((r) => [r.email, r]));
    expect(byEmail.get(w.emails.get(tookA!)!)).toMatchObject({ status: 'sent', providerMessageId: `<${tookA}@mg>` });
    expect(byEmail.get(w.emails.get(lostA!)!)).toMatchObject({ status: 'notAccepted' });
    expect(view(w).counts).toMatchObject({ inDoubt: 0, notAccepted: 2, sent: 8 });
    expect(w.invocations).toHaveLength(0); // nothing resent on its own
    const ledger = new Ledger({ store: w.store, bucket: buckets.campaigns, clock: w.clock });
    expect((await ledger.readOutcome({ ...ref, recipientId: tookB! }))?.status).toBe('sent');
  });

  it('does not believe "no record" before the settle time', async () => {
    const w = await world(3);
    await run(w, (id) => (id === w.ids[0] ? 'lostInDoubt' : 'sent'), isDone(w));
    await w.conductor.settleInDoubt();
    expect(view(w).counts.inDoubt).toBe(1);
    w.clock.advance(SETTLE_MS);
    // The next gather is due a few seconds on.
    for (let i = 0; i < 10; i++) {
      await w.conductor.settleInDoubt();
      w.clock.advance(1_000);
    }
    expect(view(w).counts).toMatchObject({ inDoubt: 0, notAccepted: 1 });
  });
});

describe('retry and resend', () => {
  it('retries, after a restart, the failures of a finished campaign whose in-doubt recipients the settler is reading back at the same moment', async () => {
    // Prepare: one recipient fails (retryable), one ends in doubt, the rest are sent; the campaign
    // finishes and the conductor restarts, so it reads the campaign back from its summary.
    const w = await world(4);
    const failing = w.ids[0]!;
    const doubtful = w.ids[1]!;
    let refuse = true;
    await run(
      w,
      (id) => (refuse && id === failing ? 'retryable' : id === doubtful ? 'lostInDoubt' : 'sent'),
      () => view(w).status === 'done',
    );
    refuse = false;
    await w.restart();

    // Act: the settler rebuilds the campaign from the ledger while the retry is asked for.
    const listing = jest.spyOn(w.store, 'list');
    const [, retried] = await Promise.all([w.conductor.settleInDoubt(), w.conductor.retry(ref.campaignId)]);
    const outcomeListings = listing.mock.calls.filter(([, prefix]) => prefix.includes('/outcomes/')).length;
    listing.mockRestore();
    await run(
      w,
      () => 'sent',
      () => view(w).status === 'done',
    );

    // Assess: the retry saw the whole ledger, not a table half read, read once for both.
    expect(retried).toEqual({ requeued: 1, skipped: [] });
    expect(outcomeListings).toBe(1);
    expect(w.calls.get(failing)).toBe(1);
    expect(view(w).counts).toMatchObject({ sent: 3, failed: 0 });
  });

  it('retries only failures with a retryable reason, and each is sent once', async () => {
    // Prepare: two recipients refused on every call until their budget (2) runs out.
    const w = await world(6);
    const [a, b] = w.ids;
    let refusing = true;
    await run(w, (id) => (refusing && (id === a || id === b) ? 'retryable' : 'sent'), isDone(w));
    expect(view(w).counts.failed).toBe(2);
    expect((await list(w, 'failed'))[0]!.reason).toMatch(/^RETRIES_EXHAUSTED/);

    // Act
    refusing = false;
    const report = await w.conductor.retry(ref.campaignId);

    // Assess
    expect(report).toEqual({ requeued: 2, skipped: [] });
    expect(view(w).status).toBe('sending');
    await run(w, () => 'sent', isDone(w));
    expect(view(w).counts).toMatchObject({ sent: 6, failed: 0 });
    for (const id of w.ids) expect(w.calls.get(id)).toBe(1);
    expect(await w.conductor.retry(ref.campaignId)).toEqual({ requeued: 0, skipped: [] });
  });

  it('skips, and says so, a failed recipient whose rendered message retention has removed', async () => {
    // Prepare: one recipient failed for good after its budget; then its rendered message is swept.
    const w = await world(3);
    const [a] = w.ids as [string];
    await run(w, (id) => (id === a ? 'retryable' : 'sent'), isDone(w));
    await w.store.delete(buckets.rendered, keys.rendered({ ...ref, recipientId: a }));
    // Act
    const report = await w.conductor.retry(ref.campaignId);
    // Assess: not reopened, not re-queued (a worker would only record it failed for good).
    expect(report).toEqual({ requeued: 0, skipped: [{ recipientId: a, reason: expect.stringMatching(/^RENDERED_GONE: /) }] });
    expect(view(w).status).toBe('done');
  });

  it('never retries in-doubt, notAccepted or permanently failed recipients, nor one whose claim stands', async () => {
    const w = await world(4);
    const ledger = new Ledger({ store: w.store, bucket: buckets.campaigns, clock: w.clock });
    await run(w, (id) => (id === w.ids[0] ? 'inDoubt' : 'sent'), isDone(w));
    const [, permanent, claimed] = w.ids;
    await w.store.put(
      buckets.campaigns,
      keys.outcome({ ...ref, recipientId: permanent! }),
      JSON.stringify({
        version: 1,
        recipientId: permanent,
        status: 'failed',
        reason: 'PROVIDER_REJECTED: 400',
        at: new Date(w.clock.now()).toISOString(),
      }),
    );
    await w.store.put(
      buckets.campaigns,
      keys.outcome({ ...ref, recipientId: claimed! }),
      JSON.stringify({
        version: 1,
        recipientId: claimed,
        status: 'failed',
        reason: 'RETRIES_EXHAUSTED after 2 attempts: CLAIM_FAILED',
        at: new Date(w.clock.now()).toISOString(),
      }),
    );
    await ledger.claim({ ...ref, recipientId: claimed! }, 'l-old');
    await w.restart();
    await run(
      w,
      () => 'sent',
      () => view(w).counts.failed === 2,
    );

    const report = await w.conductor.retry(ref.campaignId);

    expect(report.requeued).toBe(0);
    expect(report.skipped).toEqual([{ recipientId: claimed, reason: expect.stringContaining('CLAIMED') }]);
    expect(view(w).status).toBe('done');
  });

  it('resends notAccepted recipients only when asked, once each', async () => {
    const w = await world(5);
    const lost = w.ids[1]!;
    await run(
      w,
      (id, n) => (id === lost && n === 1 ? 'lostInDoubt' : 'sent'),
      () => view(w).counts.notAccepted === 1,
    );
    expect(w.calls.get(lost)).toBeUndefined();

    expect(await w.conductor.resend(ref.campaignId, 'notAccepted')).toEqual({ requeued: 1, skipped: [] });
    await run(w, () => 'sent', isDone(w));

    expect(w.calls.get(lost)).toBe(1);
    expect(view(w).counts).toMatchObject({ sent: 5, notAccepted: 0 });
  });

  // A crash at each point of a re-queue: the next conductor (same store) never sends anyone twice,
  // and a second request finishes what the first began.
  it.each([
    ['a retry, after the campaign went back to sending', 'failed', { op: 'delete', match: /outcomes/ }],
    ['a retry, after the outcome was removed', 'failed', 'after'],
    ['a resend, after the claim was removed', 'notAccepted', { op: 'delete', match: /outcomes/ }],
    ['a resend, before anything was removed', 'notAccepted', { op: 'delete', match: /claims/ }],
    ['a resend, after the outcome was removed', 'notAccepted', 'after'],
  ] as const)('survives a crash in %s', async (_name, which, crash) => {
    // Prepare
    const w = await world(4);
    const victim = w.ids[0]!;
    let refuse = true;
    const behave: Behaviour = (id) => {
      if (id !== victim || !refuse) return 'sent';
      return which === 'failed' ? 'retryable' : 'lostInDoubt';
    };
    await run(w, behave, () => view(w).status === 'done' && view(w).counts.inDoubt === 0);
    refuse = false;
    const requeue = () => (which === 'failed' ? w.conductor.retry(ref.campaignId) : w.conductor.resend(ref.campaignId, 'notAccepted'));

    // Act: the request stops at the point named, and the conductor dies there.
    if (crash === 'after') {
      await requeue();
    } else {
      w.store.crashOn = crash;
      await expect(requeue()).rejects.toThrow('crash before');
    }
    await w.restart();
    await run(w, behave, isDone(w));
    if (view(w).counts.sent < 4) expect((await requeue()).requeued).toBe(1);
    await run(w, behave, () => view(w).status === 'done' && view(w).counts.sent === 4);

    // Assess
    for (const id of w.ids) expect(w.calls.get(id)).toBe(1);
    expect(sumOf(view(w).counts as unknown as Record<string, number>)).toBe(5);
  });
});
