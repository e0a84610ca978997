import { describeCap, type RatePoint, type RateSeries, type SliceSchedule } from '@baton/shared';
import type { SendingGovernors } from './sending-governors';

/** The rate chart's series: the API's type (shared api-types.ts), made here. */
export type { RateSeries };

/** How far back the series reaches (`?minutes=` at most). */
export const RATE_KEPT_MINUTES = 360;
/** A chart has at most this many points: longer ranges group whole governor windows per bucket. */
export const MAX_RATE_POINTS = 360;
/** Recent sends kept per campaign for "sent in the last minute". */
const RECENT_MS = 2 * 60_000;

/** Counts per governor window, bounded: windows older than the kept range are dropped. */
class WindowCounts {
  private readonly counts = new Map<number, number>();
  constructor(private readonly keep: number) {}

  add(window: number, n: number): void {
    this.counts.set(window, (this.counts.get(window) ?? 0) + n);
    if (this.counts.size > this.keep) {
      const newest = Math.max(...this.counts.keys());
      for (const w of this.counts.keys()) if (w <= newest - this.keep) this.counts.delete(w);
    }
  }

  get(window: number): number {
    return this.counts.get(window) ?? 0;
  }

  get newest(): number {
    return this.counts.size === 0 ? Number.NEGATIVE_INFINITY : Math.max(...this.counts.keys());
  }
}

interface DomainRates {
  sent: WindowCounts;
  /** The lowest effective cap seen in each window (a window with no sample carries the one before). */
  levels: Map<number, number>;
}

/**
 * The provider's accepted sends over time, per campaign and per sending domain, in governor
 * windows (the unit the cap is counted in, so every bucket compares with the cap exactly).
 * In memory and bounded: RATE_KEPT_MINUTES of windows (at most MAX_RATE_POINTS × 12 of them),
 * a campaign's windows dropped with it once they are all past that.
 *
 * Fed where outcomes are learned: each check-in's accepted sends, spread over the slices their
 * calls started in (a lease's outcomes arrive only at its check-in, up to a lease's horizon
 * later); after a restart, from the ledger's outcome records (`at`), as each campaign's ledger is
 * read. Not counted: calls that failed or are in doubt, test sends, and campaigns that had
 * finished before a restart (their outcomes are not read back); the effective cap's history
 * starts again at a restart.
 */
export class SendRates {
  private readonly domains = new Map<string, DomainRates>();
  private readonly campaigns = new Map<string, { sent: WindowCounts; recent: { at: number; n: number }[] }>();
  private readonly keep: number;
  private sweptAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly settings: { windowMs: number; defaultDomain: string; capOf: (domain: string) => number }) {
    this.keep = Math.min(Math.ceil((RATE_KEPT_MINUTES * 60_000) / settings.windowMs), MAX_RATE_POINTS * 12);
  }

  /** In the governors' windows, with their caps. */
  static of(governors: SendingGovernors): SendRates {
    const capOf = (domain: string) => governors.forDomain(domain).cap;
    return new SendRates({ windowMs: governors.settings.windowMs, defaultDomain: governors.defaultDomain, capOf });
  }

  /** `n` accepted sends of `campaignId` through `domain` (the default domain when none) at `at`. */
  record(domain: string | undefined, campaignId: string, at: number, n = 1): void {
    if (n <= 0 || !Number.isFinite(at)) return;
    const w = Math.floor(at / this.settings.windowMs);
    this.domain(domain).sent.add(w, n);
    let campaign = this.campaigns.get(campaignId);
    if (!campaign) {
      campaign = { sent: new WindowCounts(this.keep), recent: [] };
      this.campaigns.set(campaignId, campaign);
    }
    campaign.sent.add(w, n);
    campaign.recent.push({ at, n });
    if (campaign.recent.length > 64) campaign.recent = campaign.recent.filter((r) => r.at > at - RECENT_MS);
    this.forgetStale(w);
  }

  /**
   * A lease's accepted sends, spread over the slices its calls started in (`usedPerSlice`), in
   * order: the first `accepted` calls are taken as the accepted ones (exact when every call was).
   * Without the slices, all at `now`.
   */
  recordLease(
    domain: string | undefined,
    campaignId: string,
    schedule: SliceSchedule,
    usedPerSlice: readonly number[] | undefined,
    accepted: number,
    now: number,
  ): void {
    let left = accepted;
    for (let k = 0; k < (usedPerSlice?.length ?? 0) && left > 0; k++) {
      const n = Math.min(left, usedPerSlice![k]!);
      if (n > 0) this.record(domain, campaignId, Math.min(now, schedule.start + k * schedule.sliceMs), n);
      left -= n;
    }
    this.record(domain, campaignId, now, left);
  }

  /** The governor's level now, for the effective cap's history. */
  noteLevel(domain: string, effectiveCap: number, now: number): void {
    const w = Math.floor(now / this.settings.windowMs);
    const { levels } = this.domain(domain);
    levels.set(w, Math.min(levels.get(w) ?? Number.POSITIVE_INFINITY, effectiveCap));
    if (levels.size > this.keep) for (const k of levels.keys()) if (k <= w - this.keep) levels.delete(k);
  }

  /** Accepted sends of the campaign whose calls started in the last `ms` (as far as check-ins have told). */
  sentInLast(campaignId: string, ms: number, now: number): number {
    let n = 0;
    for (const r of this.campaigns.get(campaignId)?.recent ?? []) if (r.at > now - ms && r.at <= now) n += r.n;
    return n;
  }

  /** The last `minutes` (1 to RATE_KEPT_MINUTES) up to now, oldest first, in buckets of whole governor windows. */
  series(campaignId: string, domain: string, minutes: number, currentLevel: number, now: number): RateSeries {
    const { windowMs } = this.settings;
    const span = Math.min(Math.max(1, minutes), RATE_KEPT_MINUTES) * 60_000;
    const windows = Math.max(1, Math.ceil(span / windowMs));
    const group = Math.ceil(windows / MAX_RATE_POINTS);
    const bucketMs = group * windowMs;
    const cap = this.settings.capOf(domain);
    const last = Math.floor(now / bucketMs);
    const first = last - Math.ceil(windows / group) + 1;
    const d = this.domains.get(domain);
    const c = this.campaigns.get(campaignId);
    const levelAt = this.levelReader(d, currentLevel);
    const points: RatePoint[] = [];
    for (let b = first; b <= last; b++) {
      let sent = 0;
      let domainSent = 0;
      let effectiveCap = 0;
      for (let w = b * group; w < (b + 1) * group; w++) {
        sent += c?.sent.get(w) ?? 0;
        domainSent += d?.sent.get(w) ?? 0;
        effectiveCap += Math.floor(Math.min(cap, levelAt(w)));
      }
      points.push({ t: new Date(b * bucketMs).toISOString(), sent, domainSent, cap: cap * group, effectiveCap });
    }
    return { bucketMs, cap: describeCap(cap, windowMs), points };
  }

  /** The level of each window, read in increasing order: its own sample, else the last one before it, else (before any) the level now. */
  private levelReader(d: DomainRates | undefined, currentLevel: number): (w: number) => number {
    const samples = [...(d?.levels ?? new Map<number, number>())].sort((a, b) => a[0] - b[0]);
    let i = 0;
    let carried = currentLevel;
    return (w) => {
      while (i < samples.length && samples[i]![0] <= w) carried = samples[i++]![1];
      return carried;
    };
  }

  private domain(given: string | undefined): DomainRates {
    const name = given ?? this.settings.defaultDomain;
    let d = this.domains.get(name);
    if (!d) {
      d = { sent: new WindowCounts(this.keep), levels: new Map() };
      this.domains.set(name, d);
    }
    return d;
  }

  /** Campaigns with nothing in the kept range any more are dropped (now and then, not on every send). */
  private forgetStale(window: number): void {
    if (this.campaigns.size < 64 || window <= this.sweptAt) return;
    this.sweptAt = window;
    for (const [id, c] of this.campaigns) if (c.sent.newest <= window - this.keep) this.campaigns.delete(id);
  }
}
