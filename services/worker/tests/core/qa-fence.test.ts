import { keys, outcomeRecord, type OutcomeRecord } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { runWorker, type WorkerDeps } from '../../src/core/run-worker';
import { AutoClock, FakeLeaseClient, FakeSender, buckets, leaseFor, refOf, renderedFor } from '../fakes';

// The worker's own QA fence, called directly (not through the config that also checks the list):
// in `qa` only one bare address on the allow-list is ever emailed.

const ALLOW_LIST = ['@qa.acme.test', 'lead@acme.test'];
/** The recipient the lease names; its rendered message says where it goes. */
const RECIPIENT = 'tester@qa.acme.test';

async function sendInQa(to: string): Promise<{ sender: FakeSender; store: MemoryObjectStore; leaseClient: FakeLeaseClient }> {
  const store = new MemoryObjectStore();
  const clock = new AutoClock();
  const sender = new FakeSender(clock);
  const leaseClient = new FakeLeaseClient();
  await store.put(buckets.rendered, keys.rendered(refOf(RECIPIENT)), JSON.stringify(renderedFor(RECIPIENT, { to })));
  const deps: WorkerDeps = { store, buckets, sender, leaseClient, clock, stage: 'qa', qaAllowList: ALLOW_LIST, timeBudgetMs: 120_000 };
  await runWorker(deps, { lease: leaseFor([RECIPIENT]) });
  return { sender, store, leaseClient };
}

async function outcome(store: MemoryObjectStore): Promise<OutcomeRecord | undefined> {
  const body = await store.get(buckets.campaigns, keys.outcome(refOf(RECIPIENT)));
  return body === undefined ? undefined : outcomeRecord.parse(JSON.parse(body));
}

describe('runWorker in the qa stage with an allow-list', () => {
  it.each([
    { what: 'an address outside the list', to: 'real.person@example.com' },
    { what: 'an address on a domain that merely ends like an allowed one', to: 'someone@notqa.acme.test' },
    { what: 'a comma-separated list ending with an allowed address', to: `real.person@example.com,${RECIPIENT}` },
    { what: 'a comma-separated list starting with an allowed address', to: `${RECIPIENT}, real.person@example.com` },
    { what: 'a semicolon-separated list', to: `${RECIPIENT};real.person@example.com` },
    { what: 'a display-name form of an allowed address', to: `Tester <${RECIPIENT}>` },
    { what: 'a display name that is itself an address', to: `"real.person@example.com" <${RECIPIENT}>` },
    // The shared check trims before it looks; the worker sends the address exactly as rendered.
    { what: 'an allowed address with a line break after it', to: `${RECIPIENT}\r\n` },
    { what: 'an allowed address with a space before it', to: ` ${RECIPIENT}` },
  ])('refuses $what: suppressed as QA_NOT_ALLOWED, never claimed, no provider call', async ({ to }) => {
    // Act
    const { sender, store, leaseClient } = await sendInQa(to);
    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(await outcome(store)).toMatchObject({ status: 'suppressed', reason: 'QA_NOT_ALLOWED' });
    expect(await store.get(buckets.campaigns, keys.claim(refOf(RECIPIENT)))).toBeUndefined();
    expect(leaseClient.requests[0]).toMatchObject({ permitsUsed: 0, results: [{ status: 'suppressed', reason: 'QA_NOT_ALLOWED' }] });
  });

  it.each([
    { what: 'an address on an allowed domain', to: RECIPIENT },
    { what: 'an exact address on the list', to: 'lead@acme.test' },
  ])('sends to $what', async ({ to }) => {
    // Act
    const { sender, store } = await sendInQa(to);
    // Assess
    expect(sender.recipients()).toEqual([to]);
    expect(await outcome(store)).toMatchObject({ status: 'sent' });
  });
});
