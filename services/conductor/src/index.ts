export {
  Conductor,
  createCampaignInput,
  type CampaignView,
  type ConductorDeps,
  type ConductorSettings,
  type CreateCampaignInput,
} from './core/conductor';
export { CampaignRun, type CampaignCounts } from './core/campaign-run';
export { Governor, type GovernorSettings, type SliceGrant, type GovernorCheckpoint } from './core/governor';
export { SendingGovernors, type SendingGovernorsSettings, type SendingGovernorsCheckpoint } from './core/sending-governors';
export { FairShare } from './core/fair-share';
export { WorkerRates, planGrant, type KeyTiming } from './core/pacing';
export * from './core/errors';
export * from './core/ports';
export { buildApp, type AppOptions } from './http/app';
export { ConductorService, type ConductorServiceDeps } from './service';
