import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { DELIVERY_EVENTS, SUPPRESSION_REASONS, windowText } from '@baton/shared';
import type { FeedbackMetrics } from '../core/feedback';
import type { ConductorMetrics } from '../core/ports';

/** Prometheus metrics for `/metrics`; a registry of its own, so tests and several apps never collide. */
export interface ConductorGauges {
  activeWorkers: Gauge;
  activeLeases: Gauge;
  windowIssued: Gauge<'domain'>;
  cap: Gauge<'domain'>;
  effectiveCap: Gauge<'domain'>;
  capPerMinute: Gauge<'domain'>;
  effectiveCapPerMinute: Gauge<'domain'>;
  /** Always 1; its labels carry the caps in words, as the console and the CLI state them (`describeCap`). */
  capInfo: Gauge<'domain' | 'cap' | 'effective_cap'>;
  dailyLimit: Gauge<'domain'>;
  dailyLeft: Gauge<'domain'>;
  campaigns: Gauge<'status'>;
}

/**
 * `windowMs` is GOVERNOR_WINDOW_MS: the caps are per window, and the help text names the
 * window, so "20" on `/metrics` reads as "20 per 10 s" like everywhere else.
 */
export function createMetrics(options: { windowMs?: number } = {}): {
  registry: Registry;
  hooks: ConductorMetrics;
  feedback: FeedbackMetrics;
  gauges: ConductorGauges;
} {
  const registry = new Registry();
  const window = windowText(options.windowMs ?? 60_000);
  collectDefaultMetrics({ register: registry, prefix: 'baton_' });
  const leases = new Counter({ name: 'baton_leases_total', help: 'Leases handed to workers', registers: [registry] });
  const permits = new Counter({ name: 'baton_permits_issued_total', help: 'Send permits issued by the governor', registers: [registry] });
  const outcomes = new Counter({
    name: 'baton_outcomes_total',
    help: 'Recipients reaching an outcome',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const retries = new Counter({
    name: 'baton_requeued_total',
    help: 'Recipients put back in the queue',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const providerEvents = new Counter({
    name: 'baton_provider_events_total',
    help: "The provider's webhooks, each event once: delivered, bounced (permanent failure), deferred, complained, unsubscribed",
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const suppressions = new Counter({
    name: 'baton_suppressions_added_total',
    help: 'Addresses suppressed after provider feedback, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  // Zero from the start, so a rate over them exists before the first event.
  for (const event of DELIVERY_EVENTS) providerEvents.inc({ event }, 0);
  for (const reason of SUPPRESSION_REASONS) suppressions.inc({ reason }, 0);
  const gauges = {
    activeWorkers: new Gauge({ name: 'baton_active_workers', help: 'Workers holding a lease', registers: [registry] }),
    activeLeases: new Gauge({ name: 'baton_active_leases', help: 'Leases not yet checked in', registers: [registry] }),
    windowIssued: new Gauge({
      name: 'baton_governor_window_issued',
      help: 'Permits granted for the current calendar window',
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
    cap: new Gauge({
      name: 'baton_governor_cap',
      help: `Provider calls allowed per governor window (one window = ${window}; PER_MINUTE_MAX or SENDING_DOMAINS)`,
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
    effectiveCap: new Gauge({
      name: 'baton_governor_effective_cap',
      help: `Provider calls allowed per governor window (one window = ${window}) now: below the cap after the provider pushed back`,
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
    capPerMinute: new Gauge({
      name: 'baton_governor_cap_per_minute',
      help: 'baton_governor_cap as a rate per minute',
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
    effectiveCapPerMinute: new Gauge({
      name: 'baton_governor_effective_cap_per_minute',
      help: 'baton_governor_effective_cap as a rate per minute',
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
    capInfo: new Gauge({
      name: 'baton_governor_cap_info',
      help: 'Always 1: the cap and the effective cap in words, as the console and the CLI state them',
      labelNames: ['domain', 'cap', 'effective_cap'] as const,
      registers: [registry],
    }),
    dailyLimit: new Gauge({
      name: 'baton_governor_daily_limit',
      help: "Today's limit of provider calls for the domain (DAILY_LIMITS, after its warm-up), in the limit's zone",
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
    dailyLeft: new Gauge({
      name: 'baton_governor_daily_left',
      help: "Provider calls left today for the domain: today's limit less the permits granted",
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
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
  const feedback: FeedbackMetrics = {
    event: (event) => providerEvents.inc({ event }),
    suppressed: (reason) => suppressions.inc({ reason }),
  };
  return { registry, hooks, feedback, gauges };
}
