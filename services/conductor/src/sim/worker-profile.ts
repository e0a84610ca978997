/** How one simulated worker Lambda behaves, drawn per invocation from a scenario. */
export interface WorkerProfile {
  lanes: number;
  /** Provider call latency: lognormal median and σ, times `slowness`. */
  latency: { medianMs: number; sigma: number };
  /** One object-store request. A key needs three before its call (rendered, suppression, claim) and one after (outcome). */
  storeMs: { medianMs: number; sigma: number };
  slowness: number;
  /** This worker's clock minus the true time. */
  skewMs: number;
  /** Request transit to the provider: the call arrives this long after it starts. */
  transitMs: [number, number];
  budgetMs: number;
  /** Chance that the worker vanishes during a lease. */
  crashPerLease: number;
}

/** Permits, over a whole run: granted to workers, spent on provider calls, and leases that lost their worker. */
export interface WorkerStats {
  granted: number;
  used: number;
  crashedLeases: number;
}
