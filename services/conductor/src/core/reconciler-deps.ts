import type { Buckets, CampaignTopic, Clock, Ledger, Logger, ObjectStore } from '@baton/shared';
import type { Campaigns } from './campaigns';
import type { ConductorMetrics } from './ports';
import type { SendRates } from './send-rates';

export interface ReconcilerSettings {
  /** How often a campaign's buckets are listed for newly rendered recipients. */
  scanIntervalMs: number;
  /**
   * Rendering that has not moved for this long is re-driven: stubs with neither a rendered
   * object nor an outcome are written again (their event re-runs the renderer), and a campaign
   * with no audience report yet has its "campaign requested" published again. Both handlers are
   * idempotent, so a re-drive that races a slow original is harmless.
   */
  stallMs: number;
  /** A lease not checked in this long after its worker's budget ran out is treated as abandoned. */
  leaseGraceMs: number;
}

export interface ReconcilerDeps {
  store: ObjectStore;
  buckets: Buckets;
  clock: Clock;
  logger: Logger;
  topic: CampaignTopic;
  ledger: Ledger;
  metrics: ConductorMetrics;
  campaigns: Campaigns;
  settings: ReconcilerSettings;
  /** Accepted sends over time: rebuilt from the outcome records' times as each ledger is read. */
  sendRates?: SendRates;
}
