import type { Clock } from '../src/clock';
import { ObjectExistsError, RetryableError } from '../src/errors';
import { keys, recipientIdFor, type RecipientRef } from '../src/keys';
import { Ledger, LedgerRecordInvalidError } from '../src/ledger';
import type { ObjectStore } from '../src/object-store/port';
import type { OutcomeRecord } from '../src/schemas';
import type { ContractCapabilities } from './object-store/object-store-contract';

const BUCKET = 'contract-bucket';
const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const clock: Clock = { now: () => NOW, sleep: async () => {} };
const campaign = { customerId: 'acme', campaignId: 'spring-sale' };

function refOf(email: string, of = campaign): RecipientRef {
  return { ...of, recipientId: recipientIdFor(of.customerId, email) };
}

/** The store with some of its calls replaced: faults a real store shows only now and then. */
function withCalls(store: ObjectStore, replaced: Partial<ObjectStore>): ObjectStore {
  return {
    get: replaced.get ?? ((bucket, key) => store.get(bucket, key)),
    getHead: replaced.getHead ?? ((bucket, key, maxBytes) => store.getHead(bucket, key, maxBytes)),
    put: replaced.put ?? ((bucket, key, body, options) => store.put(bucket, key, body, options)),
    putStream: replaced.putStream ?? ((bucket, key, body, options) => store.putStream(bucket, key, body, options)),
    delete: replaced.delete ?? ((bucket, key) => store.delete(bucket, key)),
    list: replaced.list ?? ((bucket, prefix, options) => store.list(bucket, prefix, options)),
  };
}

const unavailable = () => new RetryableError('S3_UNAVAILABLE', 'socket hang up');

/**
 * What the Ledger promises over every object-store adapter, written once and run against each
 * (memory, fs, S3 through a mocked client where conditional create is real, S3 on s3rver).
 * `setup` gives a fresh, empty store per test. Tests that need a refused conditional create are
 * skipped where the store cannot refuse one (s3rver), as in the object-store contract.
 */
export function describeLedgerContract(
  name: string,
  setup: () => Promise<ObjectStore>,
  teardown: () => Promise<void> = async () => {},
  capabilities: ContractCapabilities = {},
): void {
  const { conditionalCreate = true } = capabilities;
  const itIf = (capable: boolean) => (capable ? it : it.skip);

  describe(`the Ledger over ${name}`, () => {
    let store: ObjectStore;
    let ledger: Ledger;
    const ledgerOver = (s: ObjectStore) => new Ledger({ store: s, bucket: BUCKET, clock });

    beforeEach(async () => {
      store = await setup();
      ledger = ledgerOver(store);
    });
    afterEach(teardown);

    describe('claims', () => {
      itIf(conditionalCreate)(
        'gives a recipient to the first lease that claims it, and tells the next one it is claimed elsewhere',
        async () => {
          // Prepare
          const ref = refOf('ann@example.com');

          // Act
          const first = await ledger.claim(ref, 'lease-1');
          const second = await ledger.claim(ref, 'lease-2');

          // Assess
          expect(first).toEqual({ kind: 'ours' });
          expect(second).toEqual({ kind: 'elsewhere' });
          expect(await ledger.hasClaim(ref)).toBe(true);
        },
      );

      itIf(conditionalCreate)('never takes a duplicate run of the same lease for the claim holder', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await ledger.claim(ref, 'lease-1');

        // Act
        const again = await ledger.claim(ref, 'lease-1');

        // Assess
        expect(again).toEqual({ kind: 'elsewhere' });
      });

      itIf(conditionalCreate)('lets exactly one of ten concurrent claims of a recipient be ours', async () => {
        // Prepare
        const ref = refOf('ann@example.com');

        // Act
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => ledgerOver(store).claim(ref, `lease-${i}`)));

        // Assess
        expect(results.filter((r) => r.kind === 'ours')).toHaveLength(1);
        expect(results.filter((r) => r.kind === 'elsewhere')).toHaveLength(9);
      });

      it.each([
        ['a 412 (a retry after the first attempt landed)', () => new ObjectExistsError(BUCKET, 'claim')],
        ['a network error', unavailable],
      ])('recognises its own claim when the create landed but its reply was %s', async (_what, failure) => {
        // Prepare
        const ref = refOf('ann@example.com');
        const lossy = withCalls(store, {
          put: async (bucket, key, body, options) => {
            await store.put(bucket, key, body, options);
            throw failure();
          },
        });

        // Act
        const claimed = await ledgerOver(lossy).claim(ref, 'lease-1');

        // Assess
        expect(claimed).toEqual({ kind: 'ours' });
        expect(await ledger.hasClaim(ref)).toBe(true);
      });

      it('reports a claim the store could not write as failed, with the store’s reason', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        const down = withCalls(store, {
          put: async () => {
            throw unavailable();
          },
        });

        // Act
        const claimed = await ledgerOver(down).claim(ref, 'lease-1');

        // Assess
        expect(claimed).toEqual({ kind: 'failed', reason: 'S3_UNAVAILABLE: socket hang up' });
        expect(await ledger.hasClaim(ref)).toBe(false);
      });

      it('reports a claim as failed, not ours, when neither the create nor the read-back gets an answer', async () => {
        // Prepare: the create landed, but nothing can be read to tell whose it is
        const ref = refOf('ann@example.com');
        const lossy = withCalls(store, {
          put: async (bucket, key, body, options) => {
            await store.put(bucket, key, body, options);
            throw unavailable();
          },
          get: async () => {
            throw unavailable();
          },
        });

        // Act
        const claimed = await ledgerOver(lossy).claim(ref, 'lease-1');

        // Assess: the claim stays, so nobody sends; the caller reports it unfinished
        expect(claimed).toEqual({ kind: 'failed', reason: 'S3_UNAVAILABLE: socket hang up' });
        expect(await ledger.hasClaim(ref)).toBe(true);
      });

      it('frees a released claim for a later lease', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await ledger.claim(ref, 'lease-1');

        // Act
        await ledger.releaseClaim(ref);
        const released = await ledger.hasClaim(ref);
        const later = await ledger.claim(ref, 'lease-2');

        // Assess
        expect(released).toBe(false);
        expect(later).toEqual({ kind: 'ours' });
      });

      it('throws when a claim cannot be released, so the caller decides', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await ledger.claim(ref, 'lease-1');
        const down = withCalls(store, {
          delete: async () => {
            throw unavailable();
          },
        });

        // Act
        const releasing = ledgerOver(down).releaseClaim(ref);

        // Assess
        await expect(releasing).rejects.toMatchObject({ code: 'S3_UNAVAILABLE' });
        expect(await ledger.hasClaim(ref)).toBe(true);
      });

      it('lists the recipients holding a claim, and neither lease marks nor outcomes', async () => {
        // Prepare
        const [a, b, c] = ['a@example.com', 'b@example.com', 'c@example.com'].map((e) => refOf(e)) as [
          RecipientRef,
          RecipientRef,
          RecipientRef,
        ];
        await ledger.claim(a, 'lease-1');
        await ledger.claim(b, 'lease-1');
        await ledger.recordOutcome(c, { status: 'failed', reason: 'RENDERED_MISSING' }, 'if-absent');
        await ledger.markLease(campaign, 'lease-1');
        await ledger.claim(refOf('a@example.com', { ...campaign, campaignId: 'other-campaign' }), 'lease-9');

        // Act
        const claimed: string[] = [];
        for await (const recipientId of ledger.claimedRecipients(campaign)) claimed.push(recipientId);

        // Assess
        expect(claimed.sort()).toEqual([a.recipientId, b.recipientId].sort());
      });
    });

    describe('lease marks', () => {
      itIf(conditionalCreate)('marks an invoked lease once: a second delivery of the invocation finds it taken', async () => {
        // Act
        const first = await ledger.markLease(campaign, 'lease-1');
        const second = await ledger.markLease(campaign, 'lease-1');
        const other = await ledger.markLease(campaign, 'lease-2');

        // Assess
        expect(first).toEqual({ kind: 'ours' });
        expect(second).toEqual({ kind: 'elsewhere' });
        expect(other).toEqual({ kind: 'ours' });
      });

      it('recognises its own lease mark when the create’s reply was lost', async () => {
        // Prepare
        const lossy = withCalls(store, {
          put: async (bucket, key, body, options) => {
            await store.put(bucket, key, body, options);
            throw new ObjectExistsError(bucket, key);
          },
        });

        // Act
        const marked = await ledgerOver(lossy).markLease(campaign, 'lease-1');

        // Assess
        expect(marked).toEqual({ kind: 'ours' });
      });

      it('reports a lease mark the store could not write as failed', async () => {
        // Prepare
        const down = withCalls(store, {
          put: async () => {
            throw unavailable();
          },
        });

        // Act
        const marked = await ledgerOver(down).markLease(campaign, 'lease-1');

        // Assess
        expect(marked).toEqual({ kind: 'failed', reason: 'S3_UNAVAILABLE: socket hang up' });
      });
    });

    describe('outcomes', () => {
      it('reads back an outcome as written, dated by its clock', async () => {
        // Prepare
        const ref = refOf('ann@example.com');

        // Act
        const written = await ledger.recordOutcome(ref, { status: 'sent', providerId: '<1@mg>', leaseId: 'lease-1' }, 'always');
        const read = await ledger.readOutcome(ref);

        // Assess
        expect(written).toBe('written');
        expect(read).toEqual({
          version: 1,
          recipientId: ref.recipientId,
          status: 'sent',
          providerId: '<1@mg>',
          at: new Date(NOW).toISOString(),
          leaseId: 'lease-1',
        });
      });

      it('reads no outcome for a recipient that has none', async () => {
        // Act
        const read = await ledger.readOutcome(refOf('nobody@example.com'));

        // Assess
        expect(read).toBeUndefined();
      });

      itIf(conditionalCreate)('writes an outcome if absent once, and never over the first one', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await ledger.recordOutcome(ref, { status: 'sent', providerId: '<1@mg>', leaseId: 'lease-1' }, 'always');

        // Act
        const second = await ledger.recordOutcome(ref, { status: 'suppressed', reason: 'UNSUBSCRIBED' }, 'if-absent');

        // Assess
        expect(second).toBe('exists');
        expect(await ledger.readOutcome(ref)).toMatchObject({ status: 'sent', providerId: '<1@mg>' });
      });

      it('replaces an outcome written by the claim holder (always)', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await ledger.recordOutcome(ref, { status: 'inDoubt', reason: 'NO_REPORT: claimed but never reported' }, 'if-absent');

        // Act
        const written = await ledger.recordOutcome(ref, { status: 'sent', providerId: '<1@mg>', leaseId: 'lease-1' }, 'always');

        // Assess
        expect(written).toBe('written');
        expect(await ledger.readOutcome(ref)).toMatchObject({ status: 'sent', leaseId: 'lease-1' });
      });

      it.each(['always', 'if-absent'] as const)(
        'throws a store failure while writing an outcome (%s) rather than take it for an existing one',
        async (mode) => {
          // Prepare
          const down = withCalls(store, {
            put: async () => {
              throw unavailable();
            },
          });

          // Act
          const writing = ledgerOver(down).recordOutcome(refOf('ann@example.com'), { status: 'failed', reason: 'x' }, mode);

          // Assess
          await expect(writing).rejects.toMatchObject({ code: 'S3_UNAVAILABLE' });
        },
      );

      it.each([
        ['not JSON', () => '{"version":1,'],
        ['an unknown status', (id: string) => JSON.stringify({ version: 1, recipientId: id, status: 'bounced', at: 'x' })],
        ['about another recipient', () => JSON.stringify({ version: 1, recipientId: 'f'.repeat(32), status: 'sent', at: 'x' })],
      ])('names a damaged outcome (%s) and its key instead of taking it as absent', async (_what, body) => {
        // Prepare
        const ref = refOf('ann@example.com');
        await store.put(BUCKET, keys.outcome(ref), body(ref.recipientId));

        // Act
        const reading = ledger.readOutcome(ref);

        // Assess
        await expect(reading).rejects.toBeInstanceOf(LedgerRecordInvalidError);
        await expect(reading).rejects.toMatchObject({ code: 'OUTCOME_INVALID', kind: 'permanent', key: keys.outcome(ref) });
      });

      it('lists every outcome of a campaign, and none of another campaign', async () => {
        // Prepare
        const refs = ['a@example.com', 'b@example.com', 'c@example.com'].map((e) => refOf(e));
        for (const ref of refs) await ledger.recordOutcome(ref, { status: 'failed', reason: 'RENDERED_MISSING' }, 'if-absent');
        const elsewhere = refOf('a@example.com', { ...campaign, campaignId: 'other-campaign' });
        await ledger.recordOutcome(elsewhere, { status: 'sent', providerId: '<9@mg>' }, 'always');

        // Act
        const listed: OutcomeRecord[] = [];
        for await (const record of ledger.outcomes(campaign)) listed.push(record);

        // Assess
        expect(listed.map((r) => r.recipientId).sort()).toEqual(refs.map((r) => r.recipientId).sort());
        expect(listed.every((r) => r.status === 'failed' && r.reason === 'RENDERED_MISSING')).toBe(true);
      });

      it('reads no outcome the caller skips', async () => {
        // Prepare
        const [known, unknown] = [refOf('a@example.com'), refOf('b@example.com')];
        for (const ref of [known, unknown]) await ledger.recordOutcome(ref, { status: 'sent', providerId: '<1@mg>' }, 'always');
        const read: string[] = [];
        const counting = withCalls(store, {
          get: async (bucket, key) => {
            read.push(key);
            return store.get(bucket, key);
          },
        });

        // Act
        const listed: string[] = [];
        for await (const record of ledgerOver(counting).outcomes(campaign, { skip: (id) => id === known.recipientId }))
          listed.push(record.recipientId);

        // Assess
        expect(listed).toEqual([unknown.recipientId]);
        expect(read).toEqual([keys.outcome(unknown)]);
      });

      it('names a damaged outcome met while listing', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await store.put(BUCKET, keys.outcome(ref), 'not json');

        // Act
        const listing = (async () => {
          for await (const _ of ledger.outcomes(campaign));
        })();

        // Assess
        await expect(listing).rejects.toMatchObject({ name: 'LedgerRecordInvalidError', code: 'OUTCOME_INVALID', key: keys.outcome(ref) });
      });
      it('hands a damaged outcome to onDamaged and lists the rest, when asked to', async () => {
        // Prepare
        const bad = refOf('ann@example.com');
        const good = refOf('bob@example.com');
        await store.put(BUCKET, keys.outcome(bad), 'not json');
        await ledger.recordOutcome(good, { status: 'sent', providerId: 'p1' }, 'always');
        const damaged: string[] = [];

        // Act
        const listed: OutcomeRecord[] = [];
        for await (const record of ledger.outcomes(campaign, { onDamaged: (error, id) => damaged.push(`${id} ${error.key}`) }))
          listed.push(record);

        // Assess
        expect(listed.map((r) => r.recipientId)).toEqual([good.recipientId]);
        expect(damaged).toEqual([`${bad.recipientId} ${keys.outcome(bad)}`]);
      });
    });

    describe('suppressions', () => {
      it('suppresses a recipient for every campaign of its customer, and for no other customer', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        const sameIdElsewhere = { customerId: 'globex', recipientId: ref.recipientId };

        // Act
        const before = await ledger.isSuppressed(ref);
        const written = await ledger.suppress(ref, { campaignId: campaign.campaignId, reason: 'unsubscribed' });

        // Assess
        expect(before).toBe(false);
        expect(written).toBe('written');
        expect(await ledger.isSuppressed({ customerId: ref.customerId, recipientId: ref.recipientId })).toBe(true);
        expect(await ledger.isSuppressed(sameIdElsewhere)).toBe(false);
        expect(JSON.parse((await store.get(BUCKET, keys.suppression(ref)))!)).toEqual({
          version: 1,
          at: new Date(NOW).toISOString(),
          campaignId: campaign.campaignId,
          reason: 'unsubscribed',
        });
      });

      itIf(conditionalCreate)('keeps the first suppression when a recipient unsubscribes again', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await ledger.suppress(ref, { campaignId: 'first-campaign', reason: 'unsubscribed' });

        // Act
        const again = await ledger.suppress(ref, { campaignId: 'later-campaign', reason: 'unsubscribed' });

        // Assess
        expect(again).toBe('exists');
        expect(JSON.parse((await store.get(BUCKET, keys.suppression(ref)))!)).toMatchObject({ campaignId: 'first-campaign' });
      });

      it('counts a damaged suppression record as a suppression (the safe side)', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await store.put(BUCKET, keys.suppression(ref), 'garbage');

        // Act
        const suppressed = await ledger.isSuppressed(ref);

        // Assess
        expect(suppressed).toBe(true);
      });

      it('throws when it cannot tell whether a recipient is suppressed', async () => {
        // Prepare
        const down = withCalls(store, {
          get: async () => {
            throw unavailable();
          },
        });

        // Act
        const asking = ledgerOver(down).isSuppressed(refOf('ann@example.com'));

        // Assess
        await expect(asking).rejects.toMatchObject({ code: 'S3_UNAVAILABLE' });
      });

      it('keeps the reason, the address and the detail, and lists a customer in recipient-id order from a cursor', async () => {
        // Prepare
        const emails = ['ann@example.com', 'bob@example.com', 'cid@example.com'];
        await ledger.suppress(refOf(emails[0]!), {
          reason: 'bounced',
          campaignId: 'spring-sale',
          email: emails[0],
          detail: '550\r\nno such user',
        });
        await ledger.suppress(refOf(emails[1]!), { reason: 'complained', email: emails[1] });
        await ledger.suppress(refOf(emails[2]!), { reason: 'manual', email: emails[2] });
        await ledger.suppress({ customerId: 'globex', recipientId: refOf('dan@example.com').recipientId }, { reason: 'manual' });
        const ids = emails.map((e) => refOf(e).recipientId).sort();

        // Act
        const all = [];
        for await (const s of ledger.suppressions('acme')) all.push(s);
        const rest = [];
        for await (const s of ledger.suppressions('acme', { afterRecipientId: ids[0] })) rest.push(s.recipientId);

        // Assess
        expect(all.map((s) => s.recipientId)).toEqual(ids);
        expect(rest).toEqual(ids.slice(1));
        expect(all.find((s) => s.record?.email === emails[0])?.record).toEqual({
          version: 1,
          at: new Date(NOW).toISOString(),
          reason: 'bounced',
          campaignId: 'spring-sale',
          email: emails[0],
          detail: '550 no such user',
        });
      });

      it('removes a manual suppression, never one the recipient or the provider caused', async () => {
        // Prepare
        const manual = refOf('ann@example.com');
        const bounced = refOf('bob@example.com');
        await ledger.suppress(manual, { reason: 'manual', email: 'ann@example.com' });
        await ledger.suppress(bounced, { reason: 'bounced', email: 'bob@example.com' });

        // Act
        const removed = await ledger.removeManualSuppression(manual);
        const kept = await ledger.removeManualSuppression(bounced);
        const absent = await ledger.removeManualSuppression(refOf('cid@example.com'));

        // Assess
        expect([removed, kept, absent]).toEqual([{ result: 'removed' }, { result: 'kept', reason: 'bounced' }, { result: 'absent' }]);
        expect(await ledger.isSuppressed(manual)).toBe(false);
        expect(await ledger.isSuppressed(bounced)).toBe(true);
      });

      it('reads a damaged suppression as damaged, and never removes it', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        await store.put(BUCKET, keys.suppression(ref), 'garbage');

        // Act
        const read = await ledger.readSuppression(ref);
        const removing = await ledger.removeManualSuppression(ref);

        // Assess
        expect(read).toEqual({ recipientId: ref.recipientId, damaged: expect.stringContaining('not valid JSON') });
        expect(removing).toEqual({ result: 'kept', reason: 'damaged' });
      });
    });

    describe('deliveries', () => {
      itIf(conditionalCreate)('records each kind of provider event once, however often it is posted', async () => {
        // Prepare
        const ref = refOf('ann@example.com');
        const delivered = { event: 'delivered' as const, at: '2030-01-01T12:00:01.000Z', providerMessageId: 'm-1@mg.example.com' };

        // Act
        const first = await ledger.recordDelivery(ref, delivered);
        const again = await ledger.recordDelivery(ref, { ...delivered, at: '2030-01-01T12:09:00.000Z' });
        const complaint = await ledger.recordDelivery(ref, { event: 'complained', at: '2030-01-01T12:05:00.000Z' });
        const read = await ledger.readDelivery(ref);

        // Assess
        expect([first, again, complaint]).toEqual(['written', 'exists', 'written']);
        expect(read).toEqual({
          recipientId: ref.recipientId,
          status: 'complained',
          at: '2030-01-01T12:05:00.000Z',
          providerMessageId: 'm-1@mg.example.com',
          events: [
            expect.objectContaining({ event: 'delivered', at: '2030-01-01T12:00:01.000Z', recordedAt: new Date(NOW).toISOString() }),
            expect.objectContaining({ event: 'complained' }),
          ],
        });
        expect(await ledger.readDelivery(refOf('bob@example.com'))).toBeUndefined();
      });

      it("lists a campaign's deliveries one per recipient, in key order, and their kinds from the keys alone", async () => {
        // Prepare
        const refs = ['ann@example.com', 'bob@example.com', 'cid@example.com'].map((e) => refOf(e));
        await ledger.recordDelivery(refs[0]!, { event: 'delivered', at: '2030-01-01T12:00:01.000Z' });
        await ledger.recordDelivery(refs[1]!, { event: 'deferred', at: '2030-01-01T12:00:01.000Z', reason: '421 later' });
        await ledger.recordDelivery(refs[1]!, { event: 'bounced', at: '2030-01-01T12:30:00.000Z', reason: '550 gone' });
        await ledger.recordDelivery(refOf('dan@example.com', { customerId: 'acme', campaignId: 'other' }), {
          event: 'delivered',
          at: '2030-01-01T12:00:01.000Z',
        });

        // Act
        const listed = [];
        for await (const d of ledger.deliveries(campaign)) listed.push(d);
        const kinds = [];
        for await (const k of ledger.deliveryEvents(campaign)) kinds.push(k);

        // Assess
        const order = [refs[0]!, refs[1]!].map((r) => keys.outcome(r)).sort();
        expect(listed.map((d) => keys.outcome({ ...campaign, recipientId: d.recipientId }))).toEqual(order);
        expect(listed.find((d) => d.recipientId === refs[1]!.recipientId)).toMatchObject({ status: 'bounced', reason: '550 gone' });
        expect(listed.find((d) => d.recipientId === refs[0]!.recipientId)).toMatchObject({ status: 'delivered' });
        expect(kinds).toHaveLength(3);
        expect(kinds).toContainEqual({ recipientId: refs[1]!.recipientId, event: 'bounced' });
      });
    });
  });
}
