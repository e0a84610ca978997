import type { Buckets, CampaignRef, CampaignTopic, Clock, Logger, ObjectStore, ProviderLookup, Sender, Stage } from '@baton/shared';
import type { ComplaintTally } from './feedback';
import type { ConductorMetrics, RenderPool, WorkerInvoker } from './ports';
import type { DeliveryOf } from './recipient-list';
import type { SendingGovernors } from './sending-governors';

/** What the conductor is built from: its settings (from the config) and its ports. */
export interface ConductorSettings {
  stage: Stage;
  maxWorkers: number;
  batchSize: number;
  workerTimeBudgetMs: number;
  /** A lease not checked in this long after its worker's budget ran out is treated as abandoned. */
  leaseGraceMs: number;
  /** How often a campaign's buckets are listed for newly rendered recipients. */
  scanIntervalMs: number;
  /** Rendering that has not moved for this long is re-driven (see the reconciler). */
  stallMs: number;
  /** Retryable results a recipient may have before it is recorded failed. */
  maxAttempts: number;
  /** How far ahead one lease's schedule reaches. */
  leaseHorizonMs: number;
  /** Standard deviations taken off a worker's predicted keys (GOVERNOR_SIGMA). */
  sigma: number;
  /** Fair-share weight per customer (default 1). */
  customerWeights?: Readonly<Record<string, number>>;
  publicUrl: string;
  /** Signs unsubscribe links in previews and verifies them on `/unsubscribe`. */
  unsubscribeSecret: string;
  qaAllowList?: readonly string[];
  /** SETTLE_AFTER_MS: how long after a send went in doubt the provider's "no record" is believed (default 15 minutes). */
  settleAfterMs?: number;
  /** How long a pause waits for the workers holding the campaign's leases to confirm the stop before it answers (default 0: at once). */
  pauseConfirmMs?: number;
}

export interface ConductorDeps {
  store: ObjectStore;
  buckets: Buckets;
  clock: Clock;
  logger: Logger;
  governors: SendingGovernors;
  invoker: WorkerInvoker;
  topic: CampaignTopic;
  testSender?: Sender;
  metrics?: ConductorMetrics;
  /** The provider's records, to settle sends in doubt; without one they stay in doubt. */
  lookup?: ProviderLookup;
  /** Each recipient's delivery record for the recipient list; none by default. */
  deliveryOf?: DeliveryOf;
  /** How many of a campaign's recipients complained (the provider's feedback), for its view. */
  complaints?: (ref: CampaignRef) => ComplaintTally;
  /**
   * Template checks, previews and audience parsing (the service passes its thread pool; core
   * tests may leave it out and get the in-process one).
   */
  renderPool?: RenderPool;
  settings: ConductorSettings;
}
