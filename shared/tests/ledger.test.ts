import { ManualClock } from '../src/clock';
import { PermanentError, ValidationError } from '../src/errors';
import { keys, recipientIdFor } from '../src/keys';
import { Ledger, LedgerRecordInvalidError } from '../src/ledger';
import { MemoryObjectStore } from '../src/object-store/memory-object-store';
import { claimRecord } from '../src/schemas';

/**
 * What the Ledger writes, byte for byte where it matters. Its behaviour over each store adapter is
 * the contract in ledger-contract.ts, run by each adapter's test file.
 */
const START = Date.UTC(2030, 0, 1, 12, 0, 0);
const ref = { customerId: 'acme', campaignId: 'spring-sale', recipientId: recipientIdFor('acme', 'ann@example.com') };

function setUp() {
  const store = new MemoryObjectStore();
  const clock = new ManualClock(START);
  const ledger = new Ledger({ store, bucket: 'campaigns', clock });
  return { store, clock, ledger };
}

describe('Ledger', () => {
  it('writes a claim with its lease, its time and a fresh random token for every attempt', async () => {
    // Prepare
    const { store, ledger } = setUp();
    const other = { ...ref, recipientId: recipientIdFor('acme', 'bob@example.com') };

    // Act
    await ledger.claim(ref, 'lease-1');
    await ledger.claim(other, 'lease-1');

    // Assess
    const first = claimRecord.parse(JSON.parse(store.objects.get(`campaigns/${keys.claim(ref)}`)!));
    const second = claimRecord.parse(JSON.parse(store.objects.get(`campaigns/${keys.claim(other)}`)!));
    expect(first).toEqual({
      version: 1,
      leaseId: 'lease-1',
      at: new Date(START).toISOString(),
      token: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(second.token).not.toBe(first.token);
  });

  it('marks a lease under the campaign’s lease key, in the campaigns bucket it was given', async () => {
    // Prepare
    const { store, ledger } = setUp();

    // Act
    await ledger.markLease(ref, 'lease-7');

    // Assess
    expect(store.calls.filter((c) => c.op === 'put')).toEqual([{ op: 'put', bucket: 'campaigns', key: keys.leaseClaim(ref, 'lease-7') }]);
  });

  it('dates each record by its clock at the time of writing', async () => {
    // Prepare
    const { clock, ledger } = setUp();
    clock.advance(90_000);

    // Act
    await ledger.recordOutcome(ref, { status: 'failed', reason: 'render failed: x' }, 'if-absent');

    // Assess
    expect((await ledger.readOutcome(ref))?.at).toBe(new Date(START + 90_000).toISOString());
  });

  it('leaves fields an outcome does not have out of its record', async () => {
    // Prepare
    const { store, ledger } = setUp();

    // Act
    await ledger.recordOutcome(ref, { status: 'failed', reason: 'render failed: x' }, 'if-absent');

    // Assess
    expect(JSON.parse(store.objects.get(`campaigns/${keys.outcome(ref)}`)!)).toEqual({
      version: 1,
      recipientId: ref.recipientId,
      status: 'failed',
      reason: 'render failed: x',
      at: new Date(START).toISOString(),
    });
  });

  it('names a damaged record with a permanent validation error that lists where it is wrong', async () => {
    // Prepare
    const { store, ledger } = setUp();
    await store.put(
      'campaigns',
      keys.outcome(ref),
      JSON.stringify({ version: 1, recipientId: ref.recipientId, status: 'bounced', at: 'x' }),
    );

    // Act
    const error = await ledger.readOutcome(ref).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(LedgerRecordInvalidError);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({
      name: 'LedgerRecordInvalidError',
      code: 'OUTCOME_INVALID',
      key: keys.outcome(ref),
      issues: [{ where: `${keys.outcome(ref)}.status`, message: expect.any(String) }],
    });
  });
});
