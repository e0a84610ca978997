import { Annotations, Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { KEY_PATTERNS } from '../key-patterns';
import type { ServiceSources } from '../service-sources';
import { tuningEnvironment, type ConductorTuning, type ConsoleExposure, type LogLevel, type Stage } from '../stage-config';
import type { StageBuckets } from './service-function';
import type { LeaseApiEndpoint } from './worker';
import { useBucket, useFunctionToInvoke, useTopicToPublish, type Consumer } from './wiring';

/** The port the conductor listens on in its container (PORT). */
export const CONDUCTOR_PORT = 8080;

/** What the internet-facing load balancer forwards: the console, its API, unsubscribe links, Mailgun's webhooks, health. */
export const PUBLIC_PATHS = ['/', '/api/*', '/unsubscribe/*', '/webhooks/mailgun', '/healthz'];

/** The longest stop timeout Fargate allows. */
const FARGATE_MAX_STOP_TIMEOUT_S = 120;

/**
 * How long the conductor may drain on SIGTERM, and how long ECS waits before killing it. ECS
 * takes the task out of its load balancers before it signals it, so no new check-in can reach a
 * draining conductor: the drain only lets requests already in flight finish and the final
 * checkpoint be stored. Leases still out are settled by the next conductor, from the outcome
 * records their workers write (and it counts their permits as used, from the checkpoint). A
 * short drain also keeps leases from expiring, and alarming, while it lasts.
 */
export function drainTimes(_tuning: Pick<ConductorTuning, 'GOVERNOR_WINDOW_MS'>): { drainMs: number; stopTimeout: Duration } {
  const closeS = 20;
  const drainMs = Math.min(10_000, (FARGATE_MAX_STOP_TIMEOUT_S - closeS) * 1000);
  return { drainMs, stopTimeout: Duration.seconds(Math.ceil(drainMs / 1000) + closeS) };
}

export interface ConductorSecrets {
  readonly apiToken: secretsmanager.ISecret;
  readonly leaseToken: secretsmanager.ISecret;
  readonly unsubscribeSecret: secretsmanager.ISecret;
  readonly mailgunApiKey: secretsmanager.ISecret;
  readonly mailgunWebhookSigningKey: secretsmanager.ISecret;
}

export interface ConductorProps {
  readonly stage: Stage;
  readonly logLevel: LogLevel;
  readonly logRetention: logs.RetentionDays;
  readonly sources: ServiceSources;
  readonly vpc: ec2.IVpc;
  readonly tuning: ConductorTuning;
  readonly size: { readonly cpu: number; readonly memoryMiB: number };
  readonly console: ConsoleExposure;
  readonly buckets: StageBuckets;
  readonly secrets: ConductorSecrets;
  readonly topic: sns.ITopic;
  readonly worker: lambda.IFunction;
}

/**
 * The conductor on ECS Fargate, and the load balancers in front of it.
 *
 * - Exactly one task. The conductor holds the governor: one per sending domain, counting the
 *   permits of each window in memory. Two conductors would each hand out a full window's permits
 *   and together break the cap. So the service runs one task and a deployment stops the old task
 *   before starting the new one (maximum 100 %, minimum 0 %: a short gap, never an overlap), with
 *   AZ rebalancing off, since it works by starting a task before stopping one. ECS cannot rule
 *   out an overlap in every failure; the claims in the ledger still stop any second send.
 * - An internal load balancer carries the lease API for the workers (and the console, for
 *   operators on the VPC's network). With `console.expose`, a second, internet-facing one serves
 *   the console, the campaign API and unsubscribe links over HTTPS only; the lease API and
 *   metrics are not served there.
 */
export class Conductor extends Construct {
  readonly service: ecs.FargateService;
  readonly logGroup: logs.LogGroup;
  readonly internalLoadBalancer: elbv2.ApplicationLoadBalancer;
  readonly internalTargetGroup: elbv2.ApplicationTargetGroup;
  readonly publicLoadBalancer: elbv2.ApplicationLoadBalancer | undefined;
  readonly leaseApi: LeaseApiEndpoint;
  /** The address in unsubscribe links (BATON_PUBLIC_URL), for the renderer too. */
  readonly publicUrl: string;

  constructor(scope: Construct, id: string, props: ConductorProps) {
    super(scope, id);
    const { tuning, vpc } = props;
    const privateSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

    this.internalLoadBalancer = new elbv2.ApplicationLoadBalancer(this, 'InternalLoadBalancer', {
      vpc,
      internetFacing: false,
      vpcSubnets: privateSubnets,
      dropInvalidHeaderFields: true,
    });
    if (props.console.expose) {
      this.publicLoadBalancer = new elbv2.ApplicationLoadBalancer(this, 'PublicLoadBalancer', {
        vpc,
        internetFacing: true,
        vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
        dropInvalidHeaderFields: true,
      });
    }
    this.publicUrl = props.console.publicUrl ?? this.defaultPublicUrl();

    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.size.cpu,
      memoryLimitMiB: props.size.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    const { drainMs, stopTimeout } = drainTimes(tuning);
    const container = taskDefinition.addContainer('conductor', {
      image: ecs.ContainerImage.fromAsset(props.sources.repoRoot, {
        file: props.sources.conductorDockerfile,
        exclude: [...props.sources.dockerExclude],
        // The task's platform, whatever machine builds the image.
        platform: Platform.LINUX_AMD64,
      }),
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'conductor' }),
      portMappings: [{ containerPort: CONDUCTOR_PORT }],
      // On SIGTERM the conductor stops leasing and waits up to BATON_DRAIN_MS for leases out to
      // check in; ECS kills it after stopTimeout, so that must be the longer of the two.
      stopTimeout,
      environment: {
        BATON_STAGE: props.stage,
        LOG_LEVEL: props.logLevel,
        PORT: String(CONDUCTOR_PORT),
        BATON_PUBLIC_URL: this.publicUrl,
        BATON_DRAIN_MS: String(drainMs),
        ...tuningEnvironment(tuning),
      },
      // Injected by ECS from Secrets Manager when the task starts; only the task's execution
      // role can read them, and the values never appear in the task definition.
      secrets: {
        BATON_API_TOKEN: ecs.Secret.fromSecretsManager(props.secrets.apiToken),
        BATON_LEASE_TOKEN: ecs.Secret.fromSecretsManager(props.secrets.leaseToken),
        BATON_UNSUBSCRIBE_SECRET: ecs.Secret.fromSecretsManager(props.secrets.unsubscribeSecret),
        MAILGUN_API_KEY: ecs.Secret.fromSecretsManager(props.secrets.mailgunApiKey),
        MAILGUN_WEBHOOK_SIGNING_KEY: ecs.Secret.fromSecretsManager(props.secrets.mailgunWebhookSigningKey),
      },
    });

    const task: Consumer = {
      grantPrincipal: taskDefinition.taskRole,
      addEnvironment: (name, value) => container.addEnvironment(name, value),
    };
    useBucket(task, 'BATON_CAMPAIGNS_BUCKET', props.buckets.campaigns, {
      read: [
        KEY_PATTERNS.campaignFiles,
        KEY_PATTERNS.uploads,
        KEY_PATTERNS.ledger,
        KEY_PATTERNS.suppressions,
        KEY_PATTERNS.conductorState,
        KEY_PATTERNS.feedback,
      ],
      // Not the audience report (the stubber's), and in the ledger only outcomes: claims are the
      // workers' (a conductor never claims a send).
      write: [
        KEY_PATTERNS.campaignDefinitions,
        KEY_PATTERNS.audiences,
        KEY_PATTERNS.campaignStates,
        KEY_PATTERNS.campaignSummaries,
        KEY_PATTERNS.outcomes,
        KEY_PATTERNS.deliveries,
        KEY_PATTERNS.suppressions,
        KEY_PATTERNS.conductorState,
        KEY_PATTERNS.feedback,
      ],
      // A marketer removes manual suppressions; stale webhook tokens are swept.
      delete: [KEY_PATTERNS.suppressions, KEY_PATTERNS.feedback],
    });
    // Stubs are counted, and written again to re-drive renders that never happened.
    useBucket(task, 'BATON_STUBS_BUCKET', props.buckets.stubs, { read: [KEY_PATTERNS.stubs], write: [KEY_PATTERNS.stubs] });
    // Rendered messages are only counted: what is ready to send.
    useBucket(task, 'BATON_RENDERED_BUCKET', props.buckets.rendered, { list: true });
    useTopicToPublish(task, 'BATON_TOPIC_ARN', props.topic);
    useFunctionToInvoke(task, 'BATON_WORKER_FUNCTION', props.worker);

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'Baton conductor: its load balancers in, HTTPS out',
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs, the image registry, Mailgun (test sends)');

    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount: 1,
      maxHealthyPercent: 100,
      minHealthyPercent: 0,
      availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.DISABLED,
      circuitBreaker: { rollback: true },
      vpcSubnets: privateSubnets,
      securityGroups: [securityGroup],
      assignPublicIp: false,
      // The task carries the stage's tags too (cost reports, access policies by tag).
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      // Before it listens, the conductor rebuilds each running campaign from the ledger, which
      // takes a while for a large one: health checks wait rather than kill it in a loop.
      healthCheckGracePeriod: Duration.minutes(5),
    });

    const leaseListener = this.internalLoadBalancer.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
    });
    this.internalTargetGroup = leaseListener.addTargets('Conductor', this.targetOptions());
    this.leaseApi = {
      url: `http://${this.internalLoadBalancer.loadBalancerDnsName}`,
      connectable: this.internalLoadBalancer,
      port: ec2.Port.tcp(80),
    };

    if (this.publicLoadBalancer !== undefined && props.console.certificateArn !== undefined) {
      const https = this.publicLoadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(props.console.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: true,
        // An allow-list, not a deny-list: the load balancer matches raw paths and the conductor
        // decodes them, so `/%6Detrics` would slip past a rule for `/metrics`. Workers use the
        // internal path; nobody on the internet needs the lease API or the metrics.
        defaultAction: elbv2.ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'Not found' }),
      });
      https.addTargets('Conductor', {
        ...this.targetOptions(),
        priority: 10,
        conditions: [elbv2.ListenerCondition.pathPatterns(PUBLIC_PATHS)],
      });
    }
  }

  /** Lets a network (a VPN, a peered VPC) reach the console on the internal load balancer. */
  allowConsoleFrom(cidr: string): void {
    this.internalLoadBalancer.connections.allowFrom(ec2.Peer.ipv4(cidr), ec2.Port.tcp(80), 'Operators to the internal console');
  }

  private targetOptions(): elbv2.AddApplicationTargetsProps {
    return {
      port: CONDUCTOR_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.service],
      healthCheck: {
        path: '/healthz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // The load balancer sends nothing new to a target it is draining, check-ins included, and
      // ECS waits this long before it signals the task: keep the unreachable time short.
      deregistrationDelay: Duration.seconds(10),
    };
  }

  private defaultPublicUrl(): string {
    Annotations.of(this).addWarningV2(
      'baton:publicUrl',
      'No publicUrl set: unsubscribe links will name the load balancer, which recipients ' +
        (this.publicLoadBalancer ? 'reach but whose name the certificate does not cover' : 'cannot reach (it is internal)') +
        '. Set -c publicUrl=https://… for real sends.',
    );
    return this.publicLoadBalancer !== undefined
      ? `https://${this.publicLoadBalancer.loadBalancerDnsName}`
      : `http://${this.internalLoadBalancer.loadBalancerDnsName}`;
  }
}
