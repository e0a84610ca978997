import { STUBS_PREFIX as SHARED_STUBS_PREFIX, keys } from '@baton/shared';
import { STUBS_PREFIX } from '../src/key-patterns';
import { logicalId, s3Grants, synthStage, type SynthesisedStage } from './support/synth';

type Role = 'stubber' | 'renderer' | 'worker' | 'conductor';
type Bucket = 'campaigns' | 'stubs' | 'rendered';

interface Use {
  key: string;
  bucket: Bucket;
  read?: Role[];
  write?: Role[];
  delete?: Role[];
}

const ref = { customerId: 'acme', campaignId: 'c-m0abc-1f2e3d4c5b', recipientId: 'ab'.repeat(16) };

/**
 * Which service reads, writes or deletes each kind of key, as the services' code does today.
 * Keys are built by the schema in @baton/shared, so a change of layout there shows up here.
 */
const USES: Record<string, Use> = {
  campaign: { key: keys.campaign(ref), bucket: 'campaigns', read: ['stubber', 'renderer', 'conductor'], write: ['conductor'] },
  audience: { key: keys.audience(ref), bucket: 'campaigns', read: ['stubber', 'conductor'], write: ['conductor'] },
  uploadedAudience: { key: 'uploads/acme/audience.csv', bucket: 'campaigns', read: ['stubber', 'conductor'] },
  audienceReport: { key: keys.audienceReport(ref), bucket: 'campaigns', read: ['stubber', 'conductor'], write: ['stubber'] },
  audienceProgress: { key: keys.audienceProgress(ref), bucket: 'campaigns', read: ['conductor'], write: ['stubber'] },
  state: { key: keys.state(ref), bucket: 'campaigns', read: ['conductor'], write: ['conductor'] },
  summary: { key: keys.summary(ref), bucket: 'campaigns', read: ['conductor'], write: ['conductor'] },
  governorCheckpoint: { key: keys.governorCheckpoint(), bucket: 'campaigns', read: ['conductor'], write: ['conductor'] },
  claim: { key: keys.claim(ref), bucket: 'campaigns', read: ['worker', 'conductor'], write: ['worker'], delete: ['worker'] },
  leaseClaim: { key: keys.leaseClaim(ref, 'lease-1'), bucket: 'campaigns', write: ['worker'] },
  outcome: { key: keys.outcome(ref), bucket: 'campaigns', read: ['conductor'], write: ['worker', 'renderer', 'conductor'] },
  suppression: {
    key: keys.suppression(ref),
    bucket: 'campaigns',
    read: ['worker', 'conductor'],
    write: ['conductor'],
    delete: ['conductor'],
  },
  delivery: { key: keys.delivery(ref, 'bounced'), bucket: 'campaigns', read: ['conductor'], write: ['conductor'] },
  webhookToken: {
    key: keys.webhookToken(4_000_000, 'ab'.repeat(32)),
    bucket: 'campaigns',
    read: ['conductor'],
    write: ['conductor'],
    delete: ['conductor'],
  },
  stub: { key: keys.stub(ref), bucket: 'stubs', read: ['renderer', 'conductor'], write: ['stubber', 'conductor'] },
  rendered: { key: keys.rendered(ref), bucket: 'rendered', read: ['worker'], write: ['renderer'] },
};

/** IAM's wildcards: `*` any run of characters (slashes included), `?` any one. */
function iamMatches(pattern: string, key: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(key);
}

describe('grants and the key schema', () => {
  let qa: SynthesisedStage;
  let grants: Record<Role, string[]>;
  beforeAll(() => {
    qa = synthStage('qa');
    const { intake, renderer, worker, conductor } = qa.stacks.service;
    const taskRole = conductor.service.taskDefinition.taskRole;
    grants = {
      stubber: s3Grants(qa.service, logicalId(intake.stubber.role!)),
      renderer: s3Grants(qa.service, logicalId(renderer.function.role!)),
      worker: s3Grants(qa.service, logicalId(worker.function.role!)),
      conductor: s3Grants(qa.service, logicalId(taskRole)),
    };
  });

  function allows(role: Role, action: string, bucket: Bucket, key: string): boolean {
    return grants[role].some((line) => {
      const [granted, target] = line.split(' ') as [string, string];
      const slash = target.indexOf('/');
      return granted === action && slash > 0 && target.slice(0, slash) === bucket && iamMatches(target.slice(slash + 1), key);
    });
  }

  it('has a known use for every kind of key the schema builds', () => {
    const builders = Object.keys(keys).filter((name) => !name.endsWith('Prefix'));
    expect(builders.filter((name) => !(name in USES))).toEqual([]);
  });

  it.each(Object.entries(USES))('lets each service do with a %s key exactly what its code does', (_name, use) => {
    const roles: Role[] = ['stubber', 'renderer', 'worker', 'conductor'];
    const actual = (action: string) => roles.filter((role) => allows(role, action, use.bucket, use.key));
    expect(actual('s3:GetObject')).toEqual(expect.arrayContaining(use.read ?? []));
    expect(actual('s3:PutObject')).toEqual(expect.arrayContaining(use.write ?? []));
    expect(actual('s3:DeleteObject')).toEqual(use.delete ?? []);
    // Nobody writes what the code shows no one writing.
    expect(actual('s3:PutObject').filter((role) => !(use.write ?? []).includes(role))).toEqual([]);
  });

  it('filters the renderer notification on the same prefix the key schema uses', () => {
    expect(STUBS_PREFIX).toBe(SHARED_STUBS_PREFIX);
    expect(keys.stub(ref).startsWith(STUBS_PREFIX)).toBe(true);
  });
});
