import { keys, silentLogger, type CheckInRequest, type Clock, type Lease, type OutgoingEmail, type SendResult } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { Conductor, type ConductorSettings } from '../../src/core/conductor';
import { NoPermitError } from '../../src/core/errors';
import type { ConductorMetrics } from '../../src/core/ports';
import type { SendingGovernors } from '../../src/core/sending-governors';
import { DOMAIN, buckets, storeRenderedCampaign, testGovernors, testSettings } from '../fixtures';

// The guards of the conductor's check-in and test send, through its public methods only.

const ref = { customerId: 'acme', campaignId: 'c-guards-1' };
/** A calendar minute's first instant: slices (one second) start on round numbers. */
const START = Date.UTC(2026, 10, 21, 12, 0, 0);
/** Ten permits in each one-second slice (reach 62). */
const CAP = 620;

/** A clock moved by hand whose `sleep` returns at once, `overshootMs` later than asked (a late timer). */
class SteppingClock implements Clock {
  overshootMs = 0;
  readonly sleeps: number[] = [];
  constructor(private current: number) {}
  now(): number {
    return this.current;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.current += Math.max(0, ms) + this.overshootMs;
  }
  set(time: number): void {
    this.current = time;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

/** A memory store whose next write (or read) of a matching key fails once, as S3 does now and then. */
class FailOnceStore extends MemoryObjectStore {
  private failing: { op: 'get' | 'put'; match: (key: string) => boolean } | undefined;
  failures = 0;

  failOnce(op: 'get' | 'put', match: (key: string) => boolean): void {
    this.failing = { op, match };
  }

  override async get(bucket: string, key: string): Promise<string | undefined> {
    this.maybeFail('get', key);
    return super.get(bucket, key);
  }

  override async put(...args: Parameters<MemoryObjectStore['put']>): Promise<void> {
    this.maybeFail('put', args[1]);
    return super.put(...args);
  }

  private maybeFail(op: 'get' | 'put', key: string): void {
    if (this.failing?.op !== op || !this.failing.match(key)) return;
    this.failing = undefined;
    this.failures++;
    throw new Error('store unavailable');
  }
}

interface Harness {
  conductor: Conductor;
  store: FailOnceStore;
  clock: SteppingClock;
  governors: SendingGovernors;
  leases: Lease[];
  testSends: { message: OutgoingEmail; at: number }[];
  outcomes: string[];
  retries: string[];
}

function harness(settings: Partial<ConductorSettings> = {}): Harness {
  const store = new FailOnceStore();
  const clock = new SteppingClock(START);
  const governors = testGovernors(CAP);
  const leases: Lease[] = [];
  const testSends: Harness['testSends'] = [];
  const outcomes: string[] = [];
  const retries: string[] = [];
  const metrics: ConductorMetrics = {
    leaseIssued: () => {},
    outcome: (status) => void outcomes.push(status),
    retry: (reason) => void retries.push(reason),
  };
  const conductor = new Conductor({
    store,
    buckets,
    clock,
    logger: silentLogger,
    governors,
    invoker: { invoke: async ({ lease }) => void leases.push(lease) },
    topic: { publish: async () => {} },
    testSender: {
      send: async (message) => {
        testSends.push({ message, at: clock.now() });
        return { providerId: `test-${testSends.length}` };
      },
    },
    metrics,
    settings: testSettings(settings),
  });
  return { conductor, store, clock, governors, leases, testSends, outcomes, retries };
}

/**
 * A campaign of `n` rendered recipients, sending, and the conductor started. With no governor
 * checkpoint a sending campaign makes it wait out what an older conductor could have granted.
 */
async function sendingCampaign(h: Harness, n: number): Promise<void> {
  await storeRenderedCampaign(h.store, ref, n, { createdAt: START });
  await h.conductor.start();
  h.clock.advance(130_000);
  await h.conductor.tick();
}

function checkIn(lease: Lease, results: SendResult[], overrides: Partial<CheckInRequest> = {}): CheckInRequest {
  return {
    leaseId: lease.leaseId,
    workerId: lease.workerId,
    results,
    unattempted: [],
    permitsUsed: results.length,
    wantsMore: false,
    ...overrides,
  };
}

describe('Conductor check-in retried after the store failed midway', () => {
  /**
   * One lease of three: the worker reports the first sent and the second retryable; the third
   * went unreported but is claimed, so the conductor writes an in-doubt record for it — and that
   * write fails the first time. The worker sends the same check-in again.
   */
  async function retriedCheckIn(h: Harness): Promise<{ lease: Lease; request: CheckInRequest }> {
    await sendingCampaign(h, 3);
    const lease = h.leases[0]!;
    const [sent, retryable, unreported] = lease.recipientIds as [string, string, string];
    await h.store.put(buckets.campaigns, keys.claim({ ...ref, recipientId: unreported }), '{}');
    h.store.failOnce('put', (key) => key === keys.outcome({ ...ref, recipientId: unreported }));
    const request = checkIn(lease, [
      { recipientId: sent, status: 'sent', providerId: '<1@mg>' },
      { recipientId: retryable, status: 'retryable', code: 'PROVIDER_UNAVAILABLE', reason: 'PROVIDER_UNAVAILABLE: 503' },
    ]);
    await expect(h.conductor.checkIn(request)).rejects.toThrow('store unavailable');
    expect(h.store.failures).toBe(1);
    await h.conductor.checkIn(request);
    return { lease, request };
  }

  it("counts a retryable result's attempt once, so the retry does not use up the recipient's attempts", async () => {
    // Prepare: two attempts at most.
    const h = harness({ maxWorkers: 1, batchSize: 3, maxAttempts: 2 });
    // Act
    const { lease } = await retriedCheckIn(h);
    // Assess: one attempt used, not two: the recipient is not failed, and comes back after its back-off.
    const retryable = lease.recipientIds[1]!;
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ sent: 1, failed: 0, inDoubt: 1, inFlight: 0 });
    expect(h.retries).toEqual(['provider']);
    h.clock.advance(5_000);
    await h.conductor.tick();
    const again = h.leases[1]!;
    expect(again.recipientIds).toEqual([retryable]);
    // Its second retryable result is its last attempt.
    await h.conductor.checkIn(
      checkIn(again, [{ recipientId: retryable, status: 'retryable', code: 'PROVIDER_UNAVAILABLE', reason: 'PROVIDER_UNAVAILABLE: 503' }]),
    );
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ sent: 1, failed: 1 });
  });

  it('counts a sent result once, in the counts, the metrics and the rate shown', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 3, maxAttempts: 3 });
    // Act
    await retriedCheckIn(h);
    // Assess
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.counts.sent).toBe(1);
    expect(view.sentLastMinute).toBe(1);
    expect(h.outcomes.filter((s) => s === 'sent')).toEqual(['sent']);
  });
});

describe('Conductor check-in: provider push-back', () => {
  it('halves the effective cap on a retryable result whose code is PROVIDER_THROTTLED, whatever its reason says', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 2 });
    await sendingCampaign(h, 2);
    const lease = h.leases[0]!;
    // Act
    await h.conductor.checkIn(
      checkIn(
        lease,
        [
          {
            recipientId: lease.recipientIds[0]!,
            status: 'retryable',
            code: 'PROVIDER_THROTTLED',
            reason: 'Domain mg.example.com is not allowed to send: recipient limit exceeded',
          },
        ],
        { unattempted: [lease.recipientIds[1]!], permitsUsed: 1 },
      ),
    );
    // Assess
    expect(h.governors.forDomain(DOMAIN).effectiveCap).toBe(CAP / 2);
    expect(h.conductor.getCampaign(ref.campaignId).effectivePerMinute).toBe(310);
  });

  it('leaves the cap alone on a retryable result with any other code', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 2 });
    await sendingCampaign(h, 2);
    const lease = h.leases[0]!;
    // Act
    await h.conductor.checkIn(
      checkIn(
        lease,
        [{ recipientId: lease.recipientIds[0]!, status: 'retryable', code: 'PROVIDER_UNAVAILABLE', reason: 'PROVIDER_UNAVAILABLE: 503' }],
        { unattempted: [lease.recipientIds[1]!], permitsUsed: 1 },
      ),
    );
    // Assess
    expect(h.governors.forDomain(DOMAIN).effectiveCap).toBe(CAP);
    expect(h.conductor.getCampaign(ref.campaignId).effectivePerMinute).toBe(620);
  });
});

describe('Conductor.testSend: a permit of one slice, used inside it', () => {
  const MJML = '<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>';

  async function draft(h: Harness): Promise<string> {
    await h.conductor.start();
    const view = await h.conductor.createCampaign({
      name: 'Spring sale',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Hello {{ first_name }}',
      mjml: MJML,
      audienceCsv: 'email,first_name\na@example.com,Ann\n',
    });
    return view.id;
  }

  /** Free permits of the slice `slice` slices after the one START is in. */
  function freeIn(h: Harness, slice: number): number {
    const g = h.governors.forDomain(DOMAIN);
    return g.free(g.sliceOf(START) + slice);
  }

  it('sends at once with at least half of the current slice left, on a permit of that slice', async () => {
    // Prepare
    const h = harness();
    const id = await draft(h);
    h.clock.set(START + 500);
    // Act
    await h.conductor.testSend(id, 'me@acme.example');
    // Assess
    expect(h.testSends.map((s) => s.at)).toEqual([START + 500]);
    expect(h.clock.sleeps).toEqual([]);
    expect([freeIn(h, 0), freeIn(h, 1)]).toEqual([9, 10]);
  });

  it('waits for the next slice, and takes its permit, when less than half of the current one is left', async () => {
    // Prepare
    const h = harness();
    const id = await draft(h);
    h.clock.set(START + 600);
    // Act
    await h.conductor.testSend(id, 'me@acme.example');
    // Assess
    expect(h.testSends.map((s) => s.at)).toEqual([START + 1_000]);
    expect(h.clock.sleeps).toEqual([400]);
    expect([freeIn(h, 0), freeIn(h, 1)]).toEqual([10, 9]);
  });

  it('sends after a late wake-up that is still inside the slice', async () => {
    // Prepare
    const h = harness();
    const id = await draft(h);
    h.clock.set(START + 600);
    h.clock.overshootMs = 999;
    // Act
    await h.conductor.testSend(id, 'me@acme.example');
    // Assess
    expect(h.testSends.map((s) => s.at)).toEqual([START + 1_999]);
  });

  it('refuses with NO_PERMIT, and calls nobody, when the wake-up comes after its slice has ended', async () => {
    // Prepare: the timer fires a whole slice late.
    const h = harness();
    const id = await draft(h);
    h.clock.set(START + 600);
    h.clock.overshootMs = 1_000;
    // Act
    const sending = h.conductor.testSend(id, 'me@acme.example');
    // Assess: the permit is spent either way; the call would land in a slice that never granted it.
    await expect(sending).rejects.toBeInstanceOf(NoPermitError);
    await expect(sending).rejects.toMatchObject({ code: 'NO_PERMIT' });
    expect(h.testSends).toEqual([]);
    expect(freeIn(h, 1)).toBe(9);
  });
});
