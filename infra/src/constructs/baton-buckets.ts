import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface BatonBucketsProps {
  /** Days before a stub, then a rendered message, is deleted. */
  readonly expiryDays: { readonly stubs: number; readonly rendered: number };
}

/**
 * The stage's three buckets. `campaigns` is the system of record (definitions, audiences, the
 * ledger of claims and outcomes, suppressions); `stubs` and `rendered` hold per-recipient working
 * copies that can be produced again, and expire.
 *
 * Each bucket's logical id is fixed (`CampaignsBucket`, …): CloudFormation identifies a resource
 * by it, and a refactor that moved this construct would otherwise "replace" the buckets — with
 * RETAIN, that orphans the old ones and starts empty ones, losing the ledger.
 */
export class BatonBuckets extends Construct {
  static readonly LOGICAL_IDS = { campaigns: 'CampaignsBucket', stubs: 'StubsBucket', rendered: 'RenderedBucket' } as const;

  readonly campaigns: s3.Bucket;
  readonly stubs: s3.Bucket;
  readonly rendered: s3.Bucket;

  constructor(scope: Construct, id: string, props: BatonBucketsProps) {
    super(scope, id);
    this.campaigns = this.bucket('Campaigns', BatonBuckets.LOGICAL_IDS.campaigns);
    this.stubs = this.bucket('Stubs', BatonBuckets.LOGICAL_IDS.stubs, props.expiryDays.stubs);
    this.rendered = this.bucket('Rendered', BatonBuckets.LOGICAL_IDS.rendered, props.expiryDays.rendered);
  }

  private bucket(id: string, logicalId: string, expiryDays?: number): s3.Bucket {
    const bucket = new s3.Bucket(this, id, {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // A bucket policy denies any request not made over TLS (1.2 or later).
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Audiences, stubs and rendered messages hold personal data: a stack deletion must never take them.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ...(expiryDays !== undefined ? [{ id: 'expire-working-copies', expiration: Duration.days(expiryDays) }] : []),
      ],
    });
    (bucket.node.defaultChild as s3.CfnBucket).overrideLogicalId(logicalId);
    return bucket;
  }
}
