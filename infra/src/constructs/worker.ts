import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { KEY_PATTERNS } from '../key-patterns';
import { WORKER_TIMEOUT_HEADROOM_MS, type ConductorTuning } from '../stage-config';
import { failureQueue } from './queues';
import { ServiceFunction, type FunctionBasics } from './service-function';
import { NAME_ONLY, useSecretArn } from './wiring';

/**
 * Reserved concurrency for MAX_WORKERS leases at once, plus headroom. The conductor counts a
 * worker free once its lease has expired or checked in, but that invocation may still be running
 * (finishing its last call, reporting late) while the conductor starts the next one. Without
 * headroom the new invocation would be throttled and wait in Lambda's queue past its lease's
 * window. The reservation also keeps the account's other functions (a million renders) from
 * starving the workers. The cap on sends is the governor's permits, not this number.
 */
export function workerConcurrency(maxWorkers: number): number {
  return maxWorkers + Math.max(2, Math.ceil(maxWorkers / 4));
}

/** How the worker reaches the conductor's lease API. */
export interface LeaseApiEndpoint {
  readonly url: string;
  readonly connectable: ec2.IConnectable;
  readonly port: ec2.Port;
}

export interface WorkerProps {
  readonly basics: FunctionBasics;
  readonly tuning: ConductorTuning;
  readonly vpc: ec2.IVpc;
  readonly mailgunApiKey: secretsmanager.ISecret;
  readonly leaseToken: secretsmanager.ISecret;
}

/**
 * The worker: sends one lease through Mailgun, then checks back for more. It runs in the VPC
 * because the lease API is on an internal load balancer; its security group lets it out to
 * HTTPS (Mailgun, AWS APIs) and to the lease API, nothing else.
 *
 * Async retries are off: a retried invocation would replay a lease whose permits belong to a
 * window that may be gone; the conductor sees the lease expire and leases the keys again (the
 * claims stop any key from being sent twice).
 */
export class Worker extends Construct {
  readonly function: ServiceFunction;
  readonly securityGroup: ec2.SecurityGroup;
  /** Leases that never ran (too old, throttled) or whose invocation failed: for an operator to see. */
  readonly failedLeases: sqs.Queue;

  constructor(scope: Construct, id: string, props: WorkerProps) {
    super(scope, id);
    const { tuning } = props;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Baton worker: HTTPS out, and the lease API',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'Mailgun and AWS APIs');

    this.failedLeases = failureQueue(this, 'FailedLeases');
    this.function = new ServiceFunction(this, 'Function', {
      ...props.basics,
      entry: props.basics.sources.workerEntry,
      description: 'Baton worker: sends a lease through Mailgun',
      timeout: Duration.millis(tuning.WORKER_TIME_BUDGET_MS + WORKER_TIMEOUT_HEADROOM_MS),
      memorySize: 512,
      retryAttempts: 0,
      // A lease is valid until its window ends: one that waited longer is useless, drop it.
      maxEventAge: Duration.seconds(Math.max(60, Math.ceil(tuning.GOVERNOR_WINDOW_MS / 1000))),
      onFailure: new SqsDestination(this.failedLeases),
      reservedConcurrentExecutions: workerConcurrency(tuning.MAX_WORKERS),
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [this.securityGroup],
      environment: {
        MAILGUN_DOMAIN: tuning.MAILGUN_DOMAIN,
        MAILGUN_URL: tuning.MAILGUN_URL,
        WORKER_TIME_BUDGET_MS: String(tuning.WORKER_TIME_BUDGET_MS),
        ...(tuning.QA_ALLOWED_RECIPIENTS !== undefined ? { QA_ALLOWED_RECIPIENTS: tuning.QA_ALLOWED_RECIPIENTS } : {}),
      },
      bucketAccess: {
        // Suppressions are checked before each send; the worker writes claims, outcomes and lease
        // marks in the ledger, not the provider's feedback (the conductor's).
        campaigns: {
          read: [KEY_PATTERNS.ledger, KEY_PATTERNS.suppressions],
          write: [KEY_PATTERNS.claims, KEY_PATTERNS.outcomes, KEY_PATTERNS.leaseMarks],
          delete: [KEY_PATTERNS.claims],
        },
        stubs: NAME_ONLY,
        rendered: { read: [KEY_PATTERNS.rendered] },
      },
    });
    useSecretArn(this.function, 'MAILGUN_API_KEY_SECRET_ARN', props.mailgunApiKey);
    useSecretArn(this.function, 'BATON_LEASE_TOKEN_SECRET_ARN', props.leaseToken);
  }

  /** Points the worker at the lease API and opens the way there, in one step. */
  useLeaseApi(endpoint: LeaseApiEndpoint): void {
    this.function.addEnvironment('BATON_CONDUCTOR_URL', endpoint.url);
    this.function.connections.allowTo(endpoint.connectable, endpoint.port, 'Baton worker to the lease API');
  }
}
