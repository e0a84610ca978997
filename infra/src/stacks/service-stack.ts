import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { BatonAlarms } from '../constructs/baton-alarms';
import type { BatonSecrets } from '../constructs/baton-secrets';
import { CampaignIntake } from '../constructs/campaign-intake';
import { Conductor } from '../constructs/conductor';
import { giveFunctionsLogGroups } from '../constructs/function-log-groups';
import { Network } from '../constructs/network';
import { Renderer } from '../constructs/renderer';
import type { FunctionBasics, StageBuckets } from '../constructs/service-function';
import { Worker } from '../constructs/worker';
import type { ServiceSources } from '../service-sources';
import type { StageConfig } from '../stage-config';

export interface ServiceStackProps extends StackProps {
  readonly config: StageConfig;
  readonly sources: ServiceSources;
  readonly buckets: StageBuckets;
  readonly secrets: Pick<BatonSecrets, 'apiToken' | 'leaseToken' | 'unsubscribeSecret' | 'mailgunApiKey' | 'mailgunWebhookSigningKey'>;
}

/**
 * Everything of a stage that holds no state of its own: the network, the pipeline's functions,
 * the conductor and the alarms. It only composes; each piece is a construct.
 */
export class ServiceStack extends Stack {
  readonly intake: CampaignIntake;
  readonly renderer: Renderer;
  readonly worker: Worker;
  readonly conductor: Conductor;
  readonly alarms: BatonAlarms;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { config, sources, buckets, secrets } = props;
    const basics: FunctionBasics = { sources, stage: config.stage, logLevel: config.logLevel, logRetention: config.logRetention, buckets };

    const { vpc } = new Network(this, 'Network', { natGateways: config.natGateways, logRetention: config.logRetention });
    this.intake = new CampaignIntake(this, 'CampaignIntake', { basics });
    this.worker = new Worker(this, 'Worker', {
      basics,
      tuning: config.tuning,
      vpc,
      mailgunApiKey: secrets.mailgunApiKey,
      leaseToken: secrets.leaseToken,
    });
    this.conductor = new Conductor(this, 'Conductor', {
      stage: config.stage,
      logLevel: config.logLevel,
      logRetention: config.logRetention,
      sources,
      vpc,
      tuning: config.tuning,
      size: config.conductor,
      console: config.console,
      buckets,
      secrets,
      topic: this.intake.topic,
      worker: this.worker.function,
    });
    this.worker.useLeaseApi(this.conductor.leaseApi);
    if (config.console.internalCidr !== undefined) this.conductor.allowConsoleFrom(config.console.internalCidr);
    this.renderer = new Renderer(this, 'Renderer', {
      basics,
      unsubscribeSecret: secrets.unsubscribeSecret,
      publicUrl: this.conductor.publicUrl,
    });

    this.alarms = new BatonAlarms(this, 'Alarms', {
      stage: config.stage,
      alarmEmail: config.alarmEmail,
      failureQueues: [
        {
          queue: this.intake.subscriptionDeadLetters,
          name: 'CampaignRequestsUndelivered',
          description: 'SNS could not deliver campaign requests to the stubber.',
        },
        {
          queue: this.intake.failedStubbing,
          name: 'StubbingFailed',
          description: 'The stubber failed a campaign request on every attempt.',
        },
        {
          queue: this.renderer.failedRendering,
          name: 'RenderingFailed',
          description: 'The renderer failed stubs on every attempt (the conductor re-drives them; look if it persists).',
        },
        { queue: this.worker.failedLeases, name: 'LeasesFailed', description: 'Worker invocations failed or were dropped before running.' },
      ],
      // Event names as the services log them (services/*/src: `event: '…'`).
      logEvents: [
        {
          logGroup: this.renderer.function.logGroup,
          event: 'render.failed',
          name: 'RenderFailed',
          description: 'Recipients whose message could not be rendered (bad template or merge data): they end failed.',
        },
        {
          logGroup: this.renderer.function.logGroup,
          event: 'render.record-failed',
          name: 'RenderRecordFailed',
          description: 'Render attempts that failed and will be retried.',
        },
        {
          logGroup: this.intake.stubber.logGroup,
          event: 'stubber.audience-failed',
          name: 'AudienceFailed',
          description: "A campaign's audience could not be read: the campaign ends failed.",
        },
        {
          logGroup: this.worker.function.logGroup,
          event: 'key.in-doubt',
          name: 'SendInDoubt',
          description: 'Sends whose outcome is unknown: check with Mailgun before anyone resends.',
        },
        {
          logGroup: this.conductor.logGroup,
          event: 'lease.expired',
          name: 'LeaseExpired',
          description: 'Leases that expired without a check-in: their claimed recipients are recorded in doubt.',
        },
        {
          logGroup: this.worker.function.logGroup,
          event: 'key.crashed',
          name: 'WorkerBug',
          description: 'A worker failed on a key in a way it did not expect: the key is in doubt and the lease stopped.',
        },
        {
          logGroup: this.worker.function.logGroup,
          event: 'outcome.write-failed',
          name: 'OutcomeWriteFailed',
          description: 'An outcome could not be written to the ledger (the check-in still carries it).',
        },
        {
          logGroup: this.conductor.logGroup,
          event: 'worker.invoke_failed',
          name: 'WorkerInvokeFailed',
          description: 'Workers could not be started: nothing is being sent.',
        },
        {
          logGroup: this.conductor.logGroup,
          event: 'conductor.tick_failed',
          name: 'TickFailed',
          description: "The conductor's tick failed (store or topic trouble): leasing may have stopped.",
        },
        {
          logGroup: this.conductor.logGroup,
          event: 'campaign.domain_unknown',
          name: 'CampaignDomainUnknown',
          description: 'A campaign waits: its sending domain is no longer configured.',
        },
      ],
      conductor: { service: this.conductor.service, targetGroup: this.conductor.internalTargetGroup },
    });

    new CfnOutput(this, 'InternalUrl', { value: this.conductor.leaseApi.url, description: 'Console and APIs, from inside the VPC' });
    new CfnOutput(this, 'PublicUrl', { value: this.conductor.publicUrl, description: 'The address in unsubscribe links' });
    new CfnOutput(this, 'ConductorCluster', { value: this.conductor.service.cluster.clusterName });
    new CfnOutput(this, 'ConductorService', { value: this.conductor.service.serviceName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topic.topicArn, description: 'Subscribe on-call here' });

    giveFunctionsLogGroups(this, config.logRetention);
  }
}
