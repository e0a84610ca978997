/**
 * @baton/infra: the AWS composition of Baton as a CDK app (bin/app.ts). Like `local/`, it only
 * composes the services; it holds no business logic.
 */
export { addBatonStage, type BatonStage } from './baton-stage';
export { serviceSources, type ServiceSources } from './service-sources';
export {
  OVERRIDE_KEYS,
  STAGES,
  StageConfigError,
  resolveStageConfig,
  tuningEnvironment,
  type ConductorTuning,
  type Stage,
  type StageConfig,
  type StageOverrides,
} from './stage-config';
export { DataStack } from './stacks/data-stack';
export { ServiceStack } from './stacks/service-stack';
