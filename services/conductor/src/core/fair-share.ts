/**
 * Weighted fair sharing of a domain's permits, first between customers, then between one
 * customer's campaigns (start-time fair queueing on permits). Each party has a virtual time,
 * permits served / weight; the one furthest behind goes next. A party that was idle is brought
 * up to the current virtual time when it returns, so idling banks no credit: a 500-recipient
 * campaign starts at once at its share, and a 300,000-recipient one keeps the rest.
 */
export class FairShare {
  private readonly customers = new Map<string, number>();
  private readonly campaigns = new Map<string, number>();
  private customerClock = 0;
  private readonly campaignClocks = new Map<string, number>();

  constructor(private readonly weightOf: (customerId: string) => number = () => 1) {}

  /** Who goes next among those with keys ready. */
  pick<T extends { customerId: string; campaignId: string }>(candidates: readonly T[]): T | undefined {
    if (candidates.length === 0) return undefined;
    const byCustomer = new Map<string, T[]>();
    for (const c of candidates) byCustomer.set(c.customerId, [...(byCustomer.get(c.customerId) ?? []), c]);
    let bestCustomer: string | undefined;
    let bestV = Infinity;
    for (const customerId of [...byCustomer.keys()].sort()) {
      const v = Math.max(this.customers.get(customerId) ?? 0, this.customerClock);
      this.customers.set(customerId, v);
      if (v < bestV) [bestV, bestCustomer] = [v, customerId];
    }
    this.customerClock = bestV;
    const own = byCustomer.get(bestCustomer!)!;
    const clock = this.campaignClocks.get(bestCustomer!) ?? 0;
    let best: T | undefined;
    let bestC = Infinity;
    for (const c of [...own].sort((a, b) => (a.campaignId < b.campaignId ? -1 : 1))) {
      const v = Math.max(this.campaigns.get(c.campaignId) ?? 0, clock);
      this.campaigns.set(c.campaignId, v);
      if (v < bestC) [bestC, best] = [v, c];
    }
    this.campaignClocks.set(bestCustomer!, bestC);
    return best;
  }

  /** Counts permits given to a campaign against it and its customer. */
  charge(customerId: string, campaignId: string, permits: number): void {
    const w = Math.max(1e-6, this.weightOf(customerId));
    this.customers.set(customerId, (this.customers.get(customerId) ?? this.customerClock) + permits / w);
    this.campaigns.set(campaignId, (this.campaigns.get(campaignId) ?? 0) + permits);
  }
}
