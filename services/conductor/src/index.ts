export { Conductor, createCampaignInput, type CampaignView, type ConductorDeps, type ConductorSettings, type CreateCampaignInput } from './core/conductor';
export { CampaignRun, type CampaignCounts } from './core/campaign-run';
export { Governor, type GovernorSettings, type Grant } from './core/governor';
export * from './core/errors';
export * from './core/ports';
export { buildApp, type AppOptions } from './http/app';
export { ConductorService, type ConductorServiceDeps } from './service';
