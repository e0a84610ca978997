import type { Construct } from 'constructs';
import type { ServiceSources } from './service-sources';
import { DataStack } from './stacks/data-stack';
import { ServiceStack } from './stacks/service-stack';
import type { StageConfig } from './stage-config';

export interface BatonStage {
  readonly data: DataStack;
  readonly service: ServiceStack;
}

/**
 * One stage of Baton: its own stacks (named after it), buckets, topic, functions, secrets and
 * roles. Nothing is shared between stages, so every grant a stage's roles hold names only that
 * stage's resources. Stacks carry no account or region: the same synthesis deploys anywhere.
 */
export function addBatonStage(scope: Construct, config: StageConfig, sources: ServiceSources): BatonStage {
  const prefix = `Baton-${config.stage}`;
  const common = {
    terminationProtection: config.terminationProtection,
    // Stack tags: CloudFormation puts them on every resource of the stack that takes tags.
    tags: { 'baton:app': 'baton', 'baton:stage': config.stage },
  };
  const data = new DataStack(scope, `${prefix}-Data`, {
    ...common,
    config,
    description: `Baton ${config.stage}: buckets and secrets (stateful, retained)`,
  });
  const service = new ServiceStack(scope, `${prefix}-Service`, {
    ...common,
    config,
    sources,
    buckets: data.buckets,
    secrets: data.secrets,
    description: `Baton ${config.stage}: network, functions, conductor and alarms`,
  });
  return { data, service };
}
