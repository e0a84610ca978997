import { DateTime } from 'luxon';
import { z } from 'zod';
import type { DailyLimitSettings } from './daily-limit';
import { Governor, type GovernorCheckpoint, type GovernorSettings, type GovernorSnapshot } from './governor';

const governorCheckpoint = z.object({
  version: z.literal(1),
  perWindowMax: z.number().int().min(1),
  windowMs: z.number().positive(),
  sliceMs: z.number().positive(),
  marginMs: z.number().min(0),
  through: z.number().int(),
  limits: z.array(z.number().int().min(0)),
  effectiveCap: z.number().min(0),
  heldUntil: z.number().optional(),
  heldReason: z.string().optional(),
  pushedBackAt: z.number().optional(),
  recoverTo: z.number().optional(),
  days: z.record(z.string(), z.number().int().min(0)).optional(),
  months: z.record(z.string(), z.number().int().min(0)).optional(),
});

/** What `conductor/governor.json` holds; `restore` refuses anything else. */
export const sendingGovernorsCheckpoint = z.object({
  version: z.literal(1),
  domains: z.record(z.string(), governorCheckpoint),
  customers: z.record(z.string(), governorCheckpoint),
});

export interface SendingGovernorsSettings {
  /** Each sending domain and its provider cap per window; the first is the default. */
  domains: readonly { domain: string; perWindowMax: number; daily?: DailyLimitSettings }[];
  /** Optional caps per customer, per window, over all domains. */
  customerCaps?: Readonly<Record<string, number>>;
  windowMs: number;
  sliceMs: number;
  marginMs: number;
}

export interface SendingGovernorsCheckpoint {
  version: 1;
  domains: Record<string, GovernorCheckpoint>;
  customers: Record<string, GovernorCheckpoint>;
}

/**
 * One governor per sending domain (the provider caps each separately) and one per capped
 * customer. Slices are opened, stored and marked durable together, so one checkpoint object
 * covers them all.
 */
export class SendingGovernors {
  readonly defaultDomain: string;
  private readonly domains = new Map<string, Governor>();
  private readonly customers = new Map<string, Governor>();

  constructor(readonly settings: SendingGovernorsSettings) {
    if (settings.domains.length === 0) throw new RangeError('at least one sending domain is needed');
    const shape = { windowMs: settings.windowMs, sliceMs: settings.sliceMs, marginMs: settings.marginMs };
    for (const d of settings.domains) this.domains.set(d.domain, new Governor({ ...shape, perWindowMax: d.perWindowMax, daily: d.daily }));
    for (const [customerId, cap] of Object.entries(settings.customerCaps ?? {}))
      this.customers.set(customerId, new Governor({ ...shape, perWindowMax: cap }));
    this.defaultDomain = settings.domains[0]!.domain;
  }

  get sliceMs(): number {
    return this.settings.sliceMs;
  }

  domainNames(): string[] {
    return [...this.domains.keys()];
  }

  has(domain: string): boolean {
    return this.domains.has(domain);
  }

  forDomain(domain: string | undefined): Governor {
    return this.domains.get(domain ?? this.defaultDomain) ?? this.domains.get(this.defaultDomain)!;
  }

  /** A domain held by the provider's own limit (a 420 with its time) or by its daily limit, for people to read. */
  holdOf(
    domain: string | undefined,
    now: number,
  ): { reason: 'providerHold' | 'dailyLimit' | 'monthlyLimit'; until: number; message: string } | undefined {
    const governor = this.forDomain(domain);
    const hold = governor.heldFor(now);
    if (hold) return { reason: 'providerHold', until: hold.until, message: hold.reason };
    const name = domain ?? this.defaultDomain;
    const month = governor.monthUsedUp(now);
    if (month) {
      const next = DateTime.fromMillis(month.until, { zone: month.timeZone }).toFormat('d LLL');
      return {
        reason: 'monthlyLimit',
        until: month.until,
        message: `This month's limit for ${name} (${month.limit}) is reached; sending resumes on ${next} at 00:00 ${month.timeZone}`,
      };
    }
    const day = governor.dayUsedUp(now);
    if (!day) return undefined;
    return {
      reason: 'dailyLimit',
      until: day.until,
      message: `Today's limit for ${name} (${day.limit}) is reached; sending resumes at 00:00 ${day.timeZone}`,
    };
  }

  forCustomer(customerId: string): Governor | undefined {
    return this.customers.get(customerId);
  }

  /** The governors a campaign's lease must satisfy: its domain's, then its customer's if capped. */
  chain(domain: string | undefined, customerId: string): Governor[] {
    const customer = this.forCustomer(customerId);
    return customer ? [this.forDomain(domain), customer] : [this.forDomain(domain)];
  }

  /** Whether slices through `until` are durable already. */
  isDurableThrough(until: number): boolean {
    const g = this.forDomain(undefined);
    return g.durableThrough >= g.sliceOf(until);
  }

  /** Opens every governor's slices up to time `until`; store `checkpoint()` then call `markDurable(until)`. */
  open(until: number, now: number): void {
    for (const g of this.all()) g.open(g.sliceOf(until), now);
  }

  markDurable(until: number): void {
    for (const g of this.all()) g.markDurable(g.sliceOf(until));
  }

  checkpoint(now: number): SendingGovernorsCheckpoint {
    return {
      version: 1,
      domains: Object.fromEntries([...this.domains].map(([d, g]) => [d, g.checkpoint(now)])),
      customers: Object.fromEntries([...this.customers].map(([c, g]) => [c, g.checkpoint(now)])),
    };
  }

  /**
   * After a restart. A domain or customer the checkpoint does not name was not governed by the
   * previous conductor under that name; a domain may still have been sent through (under
   * another configuration), so unknown domains wait out a window.
   */
  restore(cp: SendingGovernorsCheckpoint, now: number): void {
    for (const [d, g] of this.domains) {
      const saved = cp.domains[d];
      if (saved) g.restore(saved, now);
      else g.assumeRecentlyBusy(now);
    }
    for (const [c, g] of this.customers) {
      const saved = cp.customers[c];
      if (saved) g.restore(saved, now);
    }
  }

  assumeRecentlyBusy(now: number): void {
    for (const g of this.domains.values()) g.assumeRecentlyBusy(now);
  }

  all(): Governor[] {
    return [...this.domains.values(), ...this.customers.values()];
  }

  /** For `/metrics` and the console. */
  snapshots(now: number): ({ domain: string } & GovernorSnapshot)[] {
    return [...this.domains].map(([domain, g]) => ({ domain, ...g.snapshot(now) }));
  }
}

export type { GovernorSettings };
