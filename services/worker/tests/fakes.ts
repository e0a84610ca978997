import {
  keys,
  recipientIdFor,
  type Buckets,
  type CheckInRequest,
  type RenewRequest,
  type CheckInResponse,
  type Clock,
  type Lease,
  type ObjectStore,
  type RenderedMessage,
} from '@baton/shared';
import type { LeaseClient, OutgoingEmail, Sender } from '../src/core/ports';

export const buckets: Buckets = { campaigns: 'campaigns', stubs: 'stubs', rendered: 'rendered' };
export const customerId = 'acme';
export const campaignId = 'spring-sale';
export const START = Date.UTC(2030, 0, 1, 12, 0, 0);

export function idOf(email: string): string {
  return recipientIdFor(customerId, email);
}

export function refOf(email: string) {
  return { customerId, campaignId, recipientId: idOf(email) };
}

export function emails(count: number, domain = 'example.com'): string[] {
  return Array.from({ length: count }, (_, i) => `user${i}@${domain}`);
}

export function renderedFor(email: string, overrides: Partial<RenderedMessage> = {}): RenderedMessage {
  return {
    version: 1,
    customerId,
    campaignId,
    recipientId: idOf(email),
    to: email,
    from: 'Acme <news@acme.test>',
    subject: 'Spring sale',
    html: `<p>Hello ${email}</p>`,
    text: `Hello ${email}`,
    headers: { 'List-Unsubscribe': '<https://acme.test/u/1>' },
    ...overrides,
  };
}

/** Writes one rendered message per address, as the renderer would. */
export async function seedRendered(store: ObjectStore, addresses: readonly string[]): Promise<void> {
  for (const email of addresses) {
    await store.put(buckets.rendered, keys.rendered(refOf(email)), JSON.stringify(renderedFor(email)));
  }
}

/**
 * A lease of `addresses`. Unless a `schedule` is given, its schedule is one slice from START to
 * `sendUntil` (START + 60 s) holding `permits` (one per address).
 */
export function leaseFor(addresses: readonly string[], overrides: Partial<Lease> & { permits?: number; sendUntil?: number } = {}): Lease {
  const { permits = addresses.length, sendUntil = START + 60_000, ...rest } = overrides;
  return {
    leaseId: 'lease-1',
    workerId: 'worker-1',
    customerId,
    campaignId,
    recipientIds: addresses.map(idOf),
    schedule: { start: START, sliceMs: sendUntil - START, permits: [permits] },
    expiresAt: START + 120_000,
    ...rest,
  };
}

/** A clock whose `sleep` moves time on at once: retries and back-offs take no real time. */
export class AutoClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private current = START) {}
  now(): number {
    return this.current;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.current += Math.max(0, ms);
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

export interface SenderCall {
  msg: OutgoingEmail;
  at: number;
}

/**
 * A provider double: records every call, counts calls in flight, and answers with `behaviour`
 * (default: success). Each call yields to the event loop so that concurrent lanes really overlap.
 */
export class FakeSender implements Sender {
  readonly calls: SenderCall[] = [];
  inFlight = 0;
  maxInFlight = 0;
  behaviour: (msg: OutgoingEmail, index: number) => Promise<{ providerId: string }> | { providerId: string } = (_msg, index) => ({
    providerId: `<id-${index}@mg.acme.test>`,
  });

  constructor(
    private readonly clock?: AutoClock,
    private readonly msPerCall = 0,
  ) {}

  async send(msg: OutgoingEmail): Promise<{ providerId: string }> {
    const index = this.calls.length;
    this.calls.push({ msg, at: this.clock?.now() ?? 0 });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      this.clock?.advance(this.msPerCall);
      return await this.behaviour(msg, index);
    } finally {
      this.inFlight -= 1;
    }
  }

  recipients(): string[] {
    return this.calls.map((c) => c.msg.to);
  }
}

/** A conductor double: answers each check-in (and renewal) from a script (a response, or an error to throw). */
export class FakeLeaseClient implements LeaseClient {
  readonly requests: CheckInRequest[] = [];
  readonly renewals: RenewRequest[] = [];
  constructor(
    private readonly script: (CheckInResponse | Error)[] = [],
    private readonly renewScript: (CheckInResponse | Error)[] = [],
  ) {}

  async renew(req: RenewRequest): Promise<CheckInResponse> {
    this.renewals.push(structuredClone(req));
    const next = this.renewScript.shift() ?? { lease: null };
    if (next instanceof Error) throw next;
    return next;
  }

  async checkIn(req: CheckInRequest): Promise<CheckInResponse> {
    this.requests.push(structuredClone(req));
    const next = this.script.shift() ?? { lease: null };
    if (next instanceof Error) throw next;
    return next;
  }
}
