import type { Logger } from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import { FairShare } from './fair-share';
import type { Governor, SliceGrant } from './governor';
import { planGrant, type WorkerRates } from './pacing';
import { windowAt } from './send-window';
import type { SendingGovernors } from './sending-governors';

/** Until when `run` may send (its send window's close; forever without one); `now` or earlier when it may not. */
function sendableUntil(run: CampaignRun, now: number): number {
  const window = run.state.sendWindow;
  if (!window) return Infinity;
  const state = windowAt(window, now);
  return state.open ? state.closesAt : now;
}

export interface DispatcherSettings {
  batchSize: number;
  leaseHorizonMs: number;
  maxWorkers: number;
  /** Fair-share weight per customer (default 1). */
  customerWeights?: Readonly<Record<string, number>>;
}

/** What the next lease is: a campaign's turn, through a domain, with a schedule of permits already taken. */
export interface Dispatch {
  run: CampaignRun;
  domain: string;
  /** The governors that gave the permits, the domain's first. */
  chain: Governor[];
  grant: SliceGrant;
  permits: number;
}

export interface DispatchRequest {
  workerId: string;
  now: number;
  /** No slice may end after this (the worker's time runs out). */
  usableUntil: number;
  /** No slice may start before now + this (a new worker is still starting). */
  leadMs: number;
}

/**
 * Decides whose turn it is and how many permits: a sending domain in turn, within it the
 * campaign whose customer (then campaign) is furthest behind its fair share, and a schedule
 * sized to what this worker is predicted to get through over the lease's horizon. Pure over the
 * runs and the governors; it charges the fair share and takes the permits it grants.
 */
export class Dispatcher {
  private readonly fairness = new Map<string, FairShare>();
  private readonly unknownDomainWarned = new Set<string>();
  private roundRobin = 0;

  constructor(
    private readonly governors: SendingGovernors,
    private readonly rates: WorkerRates,
    private readonly settings: DispatcherSettings,
    private readonly logger: Logger,
  ) {}

  next(runs: Iterable<CampaignRun>, request: DispatchRequest): Dispatch | undefined {
    const byDomain = this.leasable(runs, request.now);
    const domains = [...byDomain.keys()].sort();
    for (let d = 0; d < domains.length; d++) {
      const domain = domains[(this.roundRobin + d) % domains.length]!;
      const dispatch = this.inDomain(domain, byDomain.get(domain)!, request);
      if (dispatch) {
        this.roundRobin = (this.roundRobin + d + 1) % domains.length;
        this.fairShare(domain).charge(dispatch.run.definition.customerId, dispatch.run.id, dispatch.permits);
        return dispatch;
      }
    }
    return undefined;
  }

  /** Campaigns sending, inside their send window, with recipients ready now, by their sending domain. */
  private leasable(runs: Iterable<CampaignRun>, now: number): Map<string, CampaignRun[]> {
    const byDomain = new Map<string, CampaignRun[]>();
    for (const r of runs) {
      if (r.phase !== 'sending' || !r.ledgerLoaded || r.readyCount(now) === 0) continue;
      if (sendableUntil(r, now) <= now) continue;
      const domain = r.definition.sendingDomain ?? this.governors.defaultDomain;
      if (!this.governors.has(domain)) {
        // Its domain was taken out of SENDING_DOMAINS: never send through another one unasked.
        if (!this.unknownDomainWarned.has(r.id))
          this.logger.error(
            { event: 'campaign.domain_unknown', campaignId: r.id, domain },
            'campaign waits: its sending domain is not configured',
          );
        this.unknownDomainWarned.add(r.id);
        continue;
      }
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), r]);
    }
    return byDomain;
  }

  private inDomain(domain: string, runs: CampaignRun[], request: DispatchRequest): Dispatch | undefined {
    const fair = this.fairShare(domain);
    let candidates = runs;
    while (candidates.length > 0) {
      const run = fair.pick(candidates.map((r) => ({ customerId: r.definition.customerId, campaignId: r.id, run: r })))!.run;
      const chain = this.governors.chain(domain, run.definition.customerId);
      const grant = this.plan(chain, run, request);
      if (grant) return { run, domain, chain, grant, permits: grant.permits.reduce((a, b) => a + b, 0) };
      // The domain has nothing free, or only this customer is at its own cap: try the others.
      if (chain.length === 1) return undefined;
      candidates = candidates.filter((c) => c.definition.customerId !== run.definition.customerId);
    }
    return undefined;
  }

  private plan(chain: Governor[], run: CampaignRun, request: DispatchRequest): SliceGrant | undefined {
    const { settings } = this;
    const domainGov = chain[0]!;
    const pace = Math.ceil(domainGov.effectiveCap / domainGov.reach);
    return planGrant(chain, {
      now: request.now,
      want: Math.min(settings.batchSize, run.readyCount(request.now)),
      horizonMs: settings.leaseHorizonMs,
      predicted: this.rates.predict(request.workerId, settings.leaseHorizonMs),
      // Work ends at the window's edge, like a pause that lifts itself.
      notAfter: Math.min(request.usableUntil, sendableUntil(run, request.now)),
      notBefore: request.now + request.leadMs,
      // Until a worker has reported, it gets its share of two slices' pace per slice.
      unknownPerSlice: Math.max(1, Math.ceil((2 * pace) / settings.maxWorkers)),
    });
  }

  private fairShare(domain: string): FairShare {
    let fair = this.fairness.get(domain);
    if (!fair) {
      const weights = this.settings.customerWeights ?? {};
      fair = new FairShare((customerId) => weights[customerId] ?? 1);
      this.fairness.set(domain, fair);
    }
    return fair;
  }
}
