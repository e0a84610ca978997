/**
 * The object-key layout as IAM sees it: the patterns grants are written with. The key schema
 * itself lives in shared/src/keys.ts (the only place keys are built); these patterns follow its
 * folders, and infra/tests/key-patterns.test.ts checks keys built by that schema against them, so
 * a new folder there cannot silently fall outside every grant here.
 *
 * In an IAM resource ARN `*` spans slashes: `ledger/*` covers every campaign's ledger.
 */
export const KEY_PATTERNS = {
  // campaigns bucket
  /** Definitions, audiences, audience reports, state: `campaigns/{customer}/{campaign}/…`. */
  campaignFiles: 'campaigns/*',
  /** What the conductor writes there: the definition, the audience given inline, the state, the summary. */
  campaignDefinitions: 'campaigns/*/campaign.json',
  audiences: 'campaigns/*/audience.csv',
  campaignStates: 'campaigns/*/state.json',
  /** A finished campaign's final counts, read back after a restart. */
  campaignSummaries: 'campaigns/*/summary.json',
  /** The stubber's "done" marker. */
  audienceReports: 'campaigns/*/audience-report.json',
  /** The problems the stubber has found so far, before its report. */
  audienceProgress: 'campaigns/*/audience-progress.json',
  /** Audiences uploaded ahead of a campaign (`uploads/{customer}/…`). */
  uploads: 'uploads/*',
  /** Claims, outcomes and lease marks: `ledger/{customer}/{campaign}/…`. */
  ledger: 'ledger/*',
  claims: 'ledger/*/claims/*',
  outcomes: 'ledger/*/outcomes/*',
  /** A lease's first run marks it taken. */
  leaseMarks: 'ledger/*/leases/*',
  /** The provider's feedback per recipient (its webhooks), written by the conductor. */
  deliveries: 'ledger/*/deliveries/*',
  /** Suppressed recipients (unsubscribed, bounced, complained, manual), per customer. */
  suppressions: 'suppressions/*',
  /** Webhook tokens already seen (the replay guard), swept by the conductor. */
  feedback: 'feedback/*',
  /** The conductor's own checkpoints (the governors' state across restarts). */
  conductorState: 'conductor/*',
  // stubs bucket
  stubs: 'stubs/*',
  // rendered bucket
  rendered: 'rendered/*',
} as const;

/** Every stub key starts with this: the renderer's notification filter (STUBS_PREFIX in shared). */
export const STUBS_PREFIX = 'stubs/';
