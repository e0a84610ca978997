/** A conductor core under test: a memory store, a manual clock, recorded invocations and publishes. */
import {
  ManualClock,
  keys,
  recipientIdFor,
  silentLogger,
  type AudienceReport,
  type CampaignDefinition,
  type CampaignState,
  type CheckInRequest,
  type Lease,
  type Logger,
  type SendResult,
  type WorkerInvocation,
} from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { Conductor, type ConductorSettings } from '../src/core/conductor';
import type { SendingGovernors } from '../src/core/sending-governors';
import type { WorkerInvoker } from '../src/core/ports';
import { buckets, testGovernors, testSettings } from './fixtures';

export const ref = { customerId: 'acme', campaignId: 'c-test-1' };
const defaultRef = ref;
export const START = Date.UTC(2026, 10, 21, 12, 0, 0);

export interface Harness {
  store: MemoryObjectStore;
  clock: ManualClock;
  conductor: Conductor;
  invocations: WorkerInvocation[];
  published: unknown[];
  governors: SendingGovernors;
}

/** `cap` per minute, in one-second slices (reach 62: 620 gives ten a slice). */
export function harness(
  settings: Partial<ConductorSettings> = {},
  cap = 620,
  store = new MemoryObjectStore(),
  clock = new ManualClock(START),
  governors = testGovernors(cap),
  invoker?: WorkerInvoker,
  logger: Logger = silentLogger,
): Harness {
  const invocations: WorkerInvocation[] = [];
  const published: unknown[] = [];
  const conductor = new Conductor({
    store,
    buckets,
    clock,
    logger,
    governors,
    invoker: invoker ?? { invoke: async (i) => void invocations.push(i) },
    topic: { publish: async (m) => void published.push(m) },
    settings: testSettings(settings),
  });
  return { store, clock, conductor, invocations, published, governors };
}

/** A stored campaign in `status`, with `n` recipients stubbed and rendered (the pipeline faked). */
export async function storedCampaign(
  store: MemoryObjectStore,
  n: number,
  status: CampaignState['status'] = 'sending',
  options: { ref?: typeof ref; sendingDomain?: string } = {},
): Promise<string[]> {
  const ref = options.ref ?? defaultRef;
  const definition: CampaignDefinition = {
    version: 1,
    ...ref,
    ...(options.sendingDomain ? { sendingDomain: options.sendingDomain } : {}),
    name: 'Test',
    from: 'a@example.com',
    subject: 'Hi',
    mjml: '<mjml></mjml>',
    audienceKey: keys.audience(ref),
    createdAt: new Date(START).toISOString(),
  };
  await store.put(buckets.campaigns, keys.campaign(ref), JSON.stringify(definition));
  await store.put(buckets.campaigns, keys.state(ref), JSON.stringify({ version: 1, status, updatedAt: definition.createdAt }));
  const report: AudienceReport = {
    version: 1,
    rows: n + 1,
    valid: n,
    invalid: 1,
    duplicate: 0,
    problems: [{ line: 2, kind: 'invalid', reason: 'bad' }],
    problemsTruncated: false,
  };
  await store.put(buckets.campaigns, keys.audienceReport(ref), JSON.stringify(report));
  const ids = Array.from({ length: n }, (_, i) => recipientIdFor(ref.customerId, `r${i}@example.com`));
  for (const recipientId of ids) await store.put(buckets.rendered, keys.rendered({ ...ref, recipientId }), '{}');
  return ids;
}

/**
 * Starts the conductor. The stored campaign says "sending" but there is no governor checkpoint
 * (as if an older conductor had been sending), so it first waits until nothing a predecessor
 * could have granted is within reach of a window.
 */
export async function begin(h: Harness): Promise<void> {
  await h.conductor.start();
  h.clock.advance(130_000);
}

export function sum(permits: readonly number[]): number {
  return permits.reduce((a, b) => a + b, 0);
}

/** A well-formed result of each status, as a worker would report it. */
export function resultOf(recipientId: string, status: SendResult['status']): SendResult {
  switch (status) {
    case 'sent':
      return { recipientId, status, providerId: `<${recipientId}@mg.test>` };
    case 'retryable':
      return { recipientId, status, code: 'PROVIDER_UNAVAILABLE', reason: 'PROVIDER_UNAVAILABLE: 503' };
    case 'claimedElsewhere':
      return { recipientId, status };
    default:
      return { recipientId, status, reason: `${status} in a test` };
  }
}

export function report(
  lease: Lease,
  status: SendResult['status'] = 'sent',
  more = false,
  overrides: Partial<CheckInRequest> = {},
): CheckInRequest {
  return {
    leaseId: lease.leaseId,
    workerId: lease.workerId,
    results: lease.recipientIds.map((recipientId) => resultOf(recipientId, status)),
    unattempted: [],
    permitsUsed: lease.recipientIds.length,
    wantsMore: more,
    ...overrides,
  };
}
