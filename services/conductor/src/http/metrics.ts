import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConductorMetrics } from '../core/ports';

/** Prometheus metrics for `/metrics`; a registry of its own, so tests and several apps never collide. */
export function createMetrics(): { registry: Registry; hooks: ConductorMetrics; gauges: { activeWorkers: Gauge; activeLeases: Gauge; windowIssued: Gauge; cap: Gauge; campaigns: Gauge<'status'> } } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'baton_' });
  const leases = new Counter({ name: 'baton_leases_total', help: 'Leases handed to workers', registers: [registry] });
  const permits = new Counter({ name: 'baton_permits_issued_total', help: 'Send permits issued by the governor', registers: [registry] });
  const outcomes = new Counter({ name: 'baton_outcomes_total', help: 'Recipients reaching an outcome', labelNames: ['status'] as const, registers: [registry] });
  const retries = new Counter({ name: 'baton_requeued_total', help: 'Recipients put back in the queue', labelNames: ['reason'] as const, registers: [registry] });
  const gauges = {
    activeWorkers: new Gauge({ name: 'baton_active_workers', help: 'Workers holding a lease', registers: [registry] }),
    activeLeases: new Gauge({ name: 'baton_active_leases', help: 'Leases not yet checked in', registers: [registry] }),
    windowIssued: new Gauge({ name: 'baton_governor_window_issued', help: 'Permits issued in the current governor window', registers: [registry] }),
    cap: new Gauge({ name: 'baton_governor_effective_cap', help: 'Provider calls allowed per governor window', registers: [registry] }),
    campaigns: new Gauge({ name: 'baton_campaigns', help: 'Campaigns by status', labelNames: ['status'] as const, registers: [registry] }),
  };
  const hooks: ConductorMetrics = {
    leaseIssued: (n) => {
      leases.inc();
      permits.inc(n);
    },
    outcome: (status) => outcomes.inc({ status }),
    retry: (reason) => retries.inc({ reason }),
  };
  return { registry, hooks, gauges };
}
