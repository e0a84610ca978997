import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { ServiceSources } from '../service-sources';
import type { LogLevel, Stage } from '../stage-config';
import { useBucket, type BucketAccess, type BucketVariable } from './wiring';

export interface StageBuckets {
  readonly campaigns: s3.IBucket;
  readonly stubs: s3.IBucket;
  readonly rendered: s3.IBucket;
}

const BUCKET_VARIABLES: Record<keyof StageBuckets, BucketVariable> = {
  campaigns: 'BATON_CAMPAIGNS_BUCKET',
  stubs: 'BATON_STUBS_BUCKET',
  rendered: 'BATON_RENDERED_BUCKET',
};

/**
 * How every handler is bundled: by the esbuild installed in the repository, at synth, never in
 * Docker (there is no Docker engine where we synthesise, and a local build is faster).
 *
 * - Nothing is left external, the AWS SDK included. The runtime's SDK is whatever version Lambda
 *   ships that month; the at-most-once guarantee rests on S3 conditional writes (If-None-Match),
 *   so the handlers run the SDK version their tests ran against, from the lock file.
 * - MJML, liquidjs and html-to-text bundle cleanly as CommonJS (checked: the bundled renderer
 *   compiles and renders a template with no node_modules beside it), so no `nodeModules`
 *   install step is needed.
 * - Not minified: MJML falls back to class names to identify components, and unminified stack
 *   traces stay readable; source maps point them at the TypeScript.
 */
export const HANDLER_BUNDLING: BundlingOptions = {
  forceDockerBundling: false,
  target: 'node22',
  format: OutputFormat.CJS,
  externalModules: [],
  minify: false,
  sourceMap: true,
  sourcesContent: false,
};

export interface ServiceFunctionProps extends Omit<
  NodejsFunctionProps,
  'entry' | 'handler' | 'runtime' | 'bundling' | 'projectRoot' | 'depsLockFilePath' | 'logGroup' | 'logRetention'
> {
  /** The handler file (exporting `handler`), from ServiceSources. */
  readonly entry: string;
  readonly sources: ServiceSources;
  readonly stage: Stage;
  readonly logLevel: LogLevel;
  readonly logRetention: logs.RetentionDays;
  readonly buckets: StageBuckets;
  /** What this function may do in each bucket; every function is told all three names. */
  readonly bucketAccess: Readonly<Record<keyof StageBuckets, BucketAccess>>;
}

/** What every Baton function of a stage shares. */
export type FunctionBasics = Pick<ServiceFunctionProps, 'sources' | 'stage' | 'logLevel' | 'logRetention' | 'buckets'>;

/**
 * A Baton handler on Lambda: Node 22, bundled locally, its own log group with the stage's
 * retention, the settings every entry point reads (stage, log level, buckets), and IAM access to
 * exactly the keys it uses.
 */
export class ServiceFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    const { sources, stage, logLevel, logRetention, buckets, bucketAccess, environment, ...functionProps } = props;
    super(scope, id, {
      // Graviton: cheaper per second, and the bundles are plain JavaScript (no native modules).
      architecture: lambda.Architecture.ARM_64,
      ...functionProps,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      projectRoot: sources.repoRoot,
      depsLockFilePath: sources.lockFile,
      bundling: HANDLER_BUNDLING,
      // Created here rather than left to Lambda, so it has a retention and belongs to the stack.
      logGroup: new logs.LogGroup(scope, `${id}Logs`, { retention: logRetention }),
      environment: { BATON_STAGE: stage, LOG_LEVEL: logLevel, ...environment },
    });
    for (const name of Object.keys(BUCKET_VARIABLES) as (keyof StageBuckets)[]) {
      useBucket(this, BUCKET_VARIABLES[name], buckets[name], bucketAccess[name]);
    }
  }
}
