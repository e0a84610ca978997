import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { keys, recipientIdFor } from '@baton/shared';
import { FsObjectStore } from '@baton/shared/fs-object-store';
import { parseAudience } from '@baton/templating';
// The CLI is not a dependency of the tests package: imported by path, as a user runs it.
import { main } from '../../cli/src/main';
import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

/**
 * Production data made safe for QA, end to end: a production-shaped audience with addresses
 * buried in other columns goes through `baton sanitize`, then through a local Baton in the `qa`
 * stage; the provider (the sink) sees only QA addresses, and the counts of invalid, duplicate and
 * suppressed recipients are those production has.
 */

const QA_DOMAIN = 'qa.example.com';
const SECRET = 'e2e-sanitize-secret';
const QA_ENV = {
  BATON_STAGE: 'qa',
  QA_ALLOWED_RECIPIENTS: `@${QA_DOMAIN}`,
  BATON_API_TOKEN: 'qa-api-token-0123456789',
  BATON_LEASE_TOKEN: 'qa-lease-token-0123456789',
  BATON_UNSUBSCRIBE_SECRET: 'qa-unsubscribe-secret-0123456789',
  MAILGUN_DOMAIN: 'mg.qa.example.com',
};

const PLAIN = Array.from(
  { length: 20 },
  (_, i) => `Reader.${i}+news@Shop-Customers.example,Reader ${i},"ref: friend${i}@gmail.example",free`,
);
const PRODUCTION =
  '\uFEFFEmail,First Name,Notes,Plan\r\n' +
  [
    'Ann.Lee@Example.com,Ann,"Wrote from <ann.lee@example.com>; cc mailto:BOB@example.com",pro',
    'bob@example.com,Bob,"{""manager"":""carl@bücher.de"",""alt"":""carl@xn--bcher-kva.de""}",pro',
    'ANN.LEE@example.COM,Ann twice,,pro',
    'not-an-address,Nobody,see dee@example.org,free',
    'Dee <dee@example.org>,Dee,display name,free',
    'eve@bücher.de,Eve,IDN domain,free',
    'fay@example.com,Fay,"ragged",free,extra',
    'gus@example.com,"Gus ""unclosed,pro',
    'hal@example.com,"Hal\non two lines","ian@example.net",pro',
    ...PLAIN,
  ].join('\r\n') +
  '\r\n';

class Collector extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    callback();
  }
}

async function baton(...argv: string[]): Promise<string> {
  const out = new Collector();
  const err = new Collector();
  const code = await main(argv, out, err);
  if (code !== 0) throw new Error(`baton ${argv.join(' ')} exited ${code}:\n${err.text}`);
  return out.text;
}

function sentTo(b: { sink?: { messages(): { to: string }[] } }): string[] {
  return b.sink!.messages().map((m) => m.to.toLowerCase());
}

describe('production data through baton sanitize and the qa stage', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'baton-e2e-sanitize-'));
  });
  afterEach(() => removeDir(dir));

  it('a sanitised file reaches only the QA domain, with production’s invalid and duplicate counts', async () => {
    // Prepare
    writeFileSync(path.join(dir, 'prod.csv'), PRODUCTION);
    await baton(
      'sanitize',
      '--in',
      path.join(dir, 'prod.csv'),
      '--out',
      path.join(dir, 'qa.csv'),
      '--domain',
      QA_DOMAIN,
      '--secret',
      SECRET,
    );
    const production = parseAudience(PRODUCTION, 'acme').report;
    const { baton: qa, dataDir } = await startBaton(QA_ENV);
    try {
      const call = api(qa);
      const body = { name: 'QA', customerId: 'acme', from: `qa@${QA_DOMAIN}`, subject: 'QA {{ first_name }}', mjml: TEMPLATE };
      // Production's own file is refused at create.
      expect((await call('POST', '/api/campaigns', { ...body, audienceCsv: PRODUCTION })).status).toBe(400);

      // Act
      const created = await call<View>('POST', '/api/campaigns', { ...body, audienceCsv: readFileSync(path.join(dir, 'qa.csv'), 'utf8') });
      expect(created.status).toBe(201);
      await call('POST', `/api/campaigns/${created.body.id}/send`);
      const view = await waitUntilFinished(qa, created.body.id);

      // Assess
      const to = sentTo(qa);
      expect(to).toHaveLength(production.valid);
      expect(to.every((a) => a.endsWith(`@${QA_DOMAIN}`))).toBe(true);
      expect(new Set(to).size).toBe(to.length);
      expect(view.counts).toMatchObject({
        total: production.rows,
        sent: production.valid,
        invalid: production.invalid,
        duplicate: production.duplicate,
      });
      // The same lines and reasons; the addresses they quote are the QA ones.
      type Problem = { line: number; kind: string; reason: string; email?: string };
      const withoutEmail = (problems: Problem[]) => problems.map(({ email: _email, ...p }) => p);
      const problems = view.problems as Problem[];
      expect(withoutEmail(problems)).toEqual(withoutEmail(production.problems as Problem[]));
      expect(problems.filter((p) => p.email !== undefined && /@example\.(com|org)/i.test(p.email))).toEqual([]);
      // Merge data from other columns was sanitised too: no production address in any body.
      const bodies = qa.sink!.messages().map((m) => JSON.stringify(m));
      expect(bodies.join('\n')).not.toMatch(/@(?!qa\.example\.com|mg\.qa\.example\.com)[a-z0-9-]+\.(?:example|de|org|net)/i);
    } finally {
      await qa.stop();
      removeDir(dataDir);
    }
  });

  it('a sanitised store copy keeps production’s suppressions: the same people are suppressed in QA', async () => {
    // Prepare: production's store, one campaign and bob's unsubscribe
    const prodDir = path.join(dir, 'prod');
    const qaDir = path.join(dir, 'qa');
    const prod = new FsObjectStore(path.join(prodDir, 'objects'));
    const ref = { customerId: 'acme', campaignId: 'c-prod-sale' };
    await prod.put(
      'campaigns',
      keys.campaign(ref),
      JSON.stringify({
        version: 1,
        ...ref,
        name: 'Sale',
        from: `news@${QA_DOMAIN}`,
        subject: 'Sale {{ first_name }}',
        mjml: TEMPLATE,
        audienceKey: keys.audience(ref),
        createdAt: '2026-11-30T10:00:00.000Z',
      }),
    );
    await prod.put('campaigns', keys.audience(ref), PRODUCTION);
    const suppression = { version: 1, at: '2026-11-30T11:00:00.000Z', campaignId: ref.campaignId, reason: 'unsubscribed' };
    await prod.put(
      'campaigns',
      keys.suppression({ customerId: 'acme', recipientId: recipientIdFor('acme', 'bob@example.com') }),
      JSON.stringify(suppression),
    );
    const production = parseAudience(PRODUCTION, 'acme').report;

    // Act
    await baton('sanitize', '--from-store', prodDir, '--to-store', qaDir, '--customer', 'acme', '--domain', QA_DOMAIN, '--secret', SECRET);
    const { baton: qa } = await startBaton(QA_ENV, qaDir);
    try {
      const call = api(qa);
      expect((await call('POST', `/api/campaigns/${ref.campaignId}/send`)).status).toBe(202);
      const view = await waitUntilFinished(qa, ref.campaignId);

      // Assess
      const to = sentTo(qa);
      expect(to.every((a) => a.endsWith(`@${QA_DOMAIN}`))).toBe(true);
      expect(view.counts).toMatchObject({
        total: production.rows,
        sent: production.valid - 1,
        suppressed: 1,
        invalid: production.invalid,
        duplicate: production.duplicate,
      });
    } finally {
      await qa.stop();
    }
  });
});
