import type { AudienceReport } from '@baton/shared';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { keys, listAll, recipientIdFor, type ObjectStore } from '@baton/shared';
import { FsObjectStore } from '@baton/shared/fs-object-store';
import { openDataFolderStore } from '@baton/shared/data-folder-store';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';
import { S3ObjectStore, createS3Client } from '@baton/shared/s3-object-store';
import { AddressMapping, findAddresses, parseAudience } from '@baton/templating';
import { main } from '../src/main';
import { sanitizeFile } from '../src/sanitize-file';

/** A stubber's report without the addresses it quotes (those are the sanitised ones, by design). */
function shapeOf(report: AudienceReport): Omit<AudienceReport, 'problems'> & { problems: object[] } {
  return { ...report, problems: report.problems.map(({ email: _email, ...problem }) => problem) };
}

class Collector extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    callback();
  }
}

async function baton(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Collector();
  const err = new Collector();
  const code = await main(argv, out, err);
  return { code, out: out.text, err: err.text };
}

const QA = 'qa.example.com';
const SECRET = 'cli-test-secret';
const PRODUCTION = [
  'email,name,notes',
  'Ann@Example.com,Ann,"ask <bob@example.com> or mailto:carl@bücher.de"',
  'bob@example.com,Bob,see https://www.shop.example/u/2',
  'ann@example.com,Ann twice,',
  'not-an-address,Nobody,',
  'dee@example.com,Dee,ragged,extra',
  '',
].join('\n');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'baton-sanitize-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('baton sanitize --in --out', () => {
  it('writes a verified copy with only QA addresses and the stubber’s counts, and says what it rewrote', async () => {
    // Prepare
    const input = path.join(dir, 'prod.csv');
    const output = path.join(dir, 'qa.csv');
    writeFileSync(input, PRODUCTION);

    // Act
    const r = await baton(
      'sanitize',
      '--in',
      input,
      '--out',
      output,
      '--domain',
      QA,
      '--secret',
      SECRET,
      '--rewrite-url',
      'https://www.shop.example=https://qa.shop.example',
    );

    // Assess
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('addresses rewritten: 6\n  email: 4\n  notes: 2\nURLs rewritten: 1');
    const copy = readFileSync(output, 'utf8');
    expect(findAddresses(copy).every((a) => a.domain === QA)).toBe(true);
    expect(copy).toContain('https://qa.shop.example/u/2');
    expect(shapeOf(parseAudience(copy, 'acme').report)).toEqual(shapeOf(parseAudience(PRODUCTION, 'acme').report));
    expect(readdirSync(dir).sort()).toEqual(['prod.csv', 'qa.csv']);
  });

  it('refuses an input it cannot read, leaving no output', async () => {
    // Act
    const r = await baton('sanitize', '--in', path.join(dir, 'missing.csv'), '--out', path.join(dir, 'qa.csv'), '--domain', QA);

    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--in ${path.join(dir, 'missing.csv')}: no such file`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a file with no email column, naming line 1, leaving no output', async () => {
    // Prepare
    const input = path.join(dir, 'prod.csv');
    writeFileSync(input, 'name,notes\nAnn,ann@example.com\n');

    // Act
    const r = await baton('sanitize', '--in', input, '--out', path.join(dir, 'qa.csv'), '--domain', QA, '--secret', SECRET);

    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/line 1: no email column/);
    expect(readdirSync(dir)).toEqual(['prod.csv']);
  });

  it('refuses a corrupted (binary) input, naming the line, leaving no output', async () => {
    // Prepare
    const input = path.join(dir, 'prod.csv');
    writeFileSync(input, Buffer.concat([Buffer.from('email,name\nann@example.com,Ann\n'), Buffer.from([0x1f, 0x8b, 0xff, 0x0a])]));

    // Act
    const r = await baton('sanitize', '--in', input, '--out', path.join(dir, 'qa.csv'), '--domain', QA, '--secret', SECRET);

    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toContain('line 3: not UTF-8 text');
    expect(readdirSync(dir)).toEqual(['prod.csv']);
  });

  it('keeps no output when the verification pass finds an address outside the QA domain', async () => {
    // Prepare: a mapping that leaks, standing for any bug in the sanitiser
    class LeakyMapping extends AddressMapping {
      override map(): string {
        return 'leak@example.com';
      }
    }
    const input = path.join(dir, 'prod.csv');
    writeFileSync(input, PRODUCTION);

    // Act
    const attempt = sanitizeFile(input, path.join(dir, 'qa.csv'), { mapping: new LeakyMapping(SECRET, QA), urlRewrites: [] });

    // Assess
    await expect(attempt).rejects.toThrow(`verification failed: line 2, column "email" still holds an address outside ${QA}`);
    expect(readdirSync(dir)).toEqual(['prod.csv']);
  });

  it('refuses a bad --domain or --rewrite-url before reading anything', async () => {
    const bad = await baton('sanitize', '--in', 'x.csv', '--out', 'y.csv', '--domain', 'not a domain');
    const url = await baton('sanitize', '--in', 'x.csv', '--out', 'y.csv', '--domain', QA, '--rewrite-url', 'nope');
    expect([bad.code, url.code]).toEqual([2, 2]);
    expect(bad.err).toContain('--domain: must be a lower-case domain name');
    expect(url.err).toContain('--rewrite-url: must be FROM=TO');
  });
});

// ---- whole stores ----------------------------------------------------------------------------

const customerId = 'acme';
const ref = { customerId, campaignId: 'c-prod-1' };
const MJML = '<mjml><mj-body><mj-text><a href="https://www.shop.example/sale">Sale</a></mj-text></mj-body></mjml>';

/** A production customer: one campaign mid-send, with ledger, stubs, rendered bodies and a suppression of bob. */
async function seedProduction(store: ObjectStore): Promise<void> {
  const definition = {
    version: 1,
    ...ref,
    name: 'Sale',
    from: 'news@shop.example',
    subject: 'Sale at https://www.shop.example',
    mjml: MJML,
    audienceKey: keys.audience(ref),
    createdAt: '2026-11-30T10:00:00.000Z',
  };
  const bob = { ...ref, recipientId: recipientIdFor(customerId, 'bob@example.com') };
  await store.put('campaigns', keys.campaign(ref), JSON.stringify(definition));
  await store.put('campaigns', keys.audience(ref), PRODUCTION);
  await store.put('campaigns', keys.state(ref), JSON.stringify({ version: 1, status: 'sending', updatedAt: definition.createdAt }));
  await store.put('campaigns', keys.claim(bob), '{}');
  await store.put(
    'campaigns',
    keys.suppression(bob),
    JSON.stringify({ version: 1, at: definition.createdAt, campaignId: ref.campaignId, reason: 'unsubscribed' }),
  );
  await store.put('campaigns', keys.suppression({ customerId, recipientId: 'f'.repeat(32) }), '{}');
  await store.put('rendered', keys.rendered(bob), '{"html":"<p>Hi Bob</p>"}');
}

async function allKeys(store: ObjectStore, bucket: string): Promise<string[]> {
  const out: string[] = [];
  for await (const k of listAll(store, bucket, '')) out.push(k);
  return out.sort();
}

async function expectSanitisedCopy(target: ObjectStore, bucket: string): Promise<void> {
  const mapping = new AddressMapping(SECRET, QA);
  const qaBob = recipientIdFor(customerId, mapping.map('bob@example.com'));
  expect(await allKeys(target, bucket)).toEqual(
    [keys.audience(ref), keys.campaign(ref), keys.suppression({ customerId, recipientId: qaBob })].sort(),
  );
  const copy = (await target.get(bucket, keys.audience(ref)))!;
  expect(findAddresses(copy).every((a) => a.domain === QA)).toBe(true);
  expect(shapeOf(parseAudience(copy, customerId).report)).toEqual(shapeOf(parseAudience(PRODUCTION, customerId).report));
  const definition = JSON.parse((await target.get(bucket, keys.campaign(ref)))!) as { mjml: string; subject: string };
  expect(definition.mjml).toContain('https://qa.shop.example/sale');
  expect(definition.subject).toBe('Sale at https://qa.shop.example');
}

describe('baton sanitize --from-store --to-store', () => {
  it('copies a customer between local data dirs: sanitised audiences, rewritten templates, moved suppressions, nothing else', async () => {
    // Prepare
    const prodDir = path.join(dir, 'prod');
    const qaDir = path.join(dir, 'qa');
    await seedProduction(new FsObjectStore(path.join(prodDir, 'objects')));

    // Act
    const r = await baton(
      'sanitize',
      '--from-store',
      prodDir,
      '--to-store',
      qaDir,
      '--customer',
      customerId,
      '--domain',
      QA,
      '--secret',
      SECRET,
      '--rewrite-url',
      'https://www.shop.example=https://qa.shop.example',
    );

    // Assess
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('copied 1 campaigns and 1 suppressions of acme');
    expect(r.out).toContain('(1 suppressions of people in no copied audience left out)');
    // A new folder gets the store Baton would make there (LMDB), and nothing but the customer's definitions.
    const qa = openDataFolderStore(qaDir);
    await expectSanitisedCopy(qa, 'campaigns');
    expect((await qa.list('rendered', '')).keys).toEqual([]);
    expect((await qa.list('stubs', '')).keys).toEqual([]);
    if (qa instanceof LmdbObjectStore) await qa.close();
  });

  describe('into an S3 bucket (s3rver on loopback)', () => {
    // s3rver ships no types: the slice used here.
    type S3rverClass = new (options: {
      address: string;
      port: number;
      silent: boolean;
      directory: string;
      configureBuckets: { name: string }[];
    }) => {
      run(): Promise<{ port: number }>;
      close(): Promise<void>;
    };
    const S3rver = require('s3rver') as S3rverClass;
    const saved = { ...process.env };
    let server: InstanceType<S3rverClass>;
    let s3dir: string;
    let endpoint: string;

    beforeAll(async () => {
      s3dir = mkdtempSync(path.join(os.tmpdir(), 'baton-sanitize-s3-'));
      server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir, configureBuckets: [{ name: 'qa-campaigns' }] });
      endpoint = `http://127.0.0.1:${(await server.run()).port}`;
      Object.assign(process.env, {
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: 'us-east-1',
      });
    });
    afterAll(async () => {
      await server.close();
      rmSync(s3dir, { recursive: true, force: true });
      process.env = saved;
    });

    it('copies a local data dir’s customer into the bucket through the S3 adapter', async () => {
      // Prepare
      const prodDir = path.join(dir, 'prod');
      await seedProduction(new FsObjectStore(path.join(prodDir, 'objects')));

      // Act
      const r = await baton(
        'sanitize',
        '--from-store',
        prodDir,
        '--to-store',
        's3://qa-campaigns',
        '--customer',
        customerId,
        '--domain',
        QA,
        '--secret',
        SECRET,
        '--rewrite-url',
        'https://www.shop.example=https://qa.shop.example',
      );

      // Assess
      expect(r).toMatchObject({ code: 0, err: '' });
      const client = createS3Client({ endpoint });
      try {
        await expectSanitisedCopy(new S3ObjectStore(client), 'qa-campaigns');
      } finally {
        client.destroy();
      }
    });
  });
});
