import { keys } from '@baton/shared';
import type { LocalBaton } from '../../local/src/compose';
import { TEMPLATE, api, removeDir, startBaton, type View } from './helpers';

/**
 * "Creating a campaign returns at once and reports the audience's problems as they are found":
 * through the real local composition (the stubber in its own thread), a large audience with bad
 * rows is uploaded as multipart; the create answers without reading its rows, and once sending
 * starts the view shows the rows' problems while the stubber is still writing stubs, long
 * before its report, and the report's problems then carry on from those.
 */

const ROWS = 20_000;
const BAD_EVERY = 500;

function audience(): string {
  const lines = ['email,first_name'];
  for (let i = 1; i <= ROWS; i++) lines.push(i % BAD_EVERY === 0 ? `not-an-address-${i},Bad` : `p${i}@example.com,P${i}`);
  return lines.join('\n') + '\n';
}

describe("an audience's problems while it is stubbed", () => {
  let baton: LocalBaton;
  let dataDir: string;

  beforeAll(async () => {
    ({ baton, dataDir } = await startBaton({ PER_MINUTE_MAX: '600', MAX_WORKERS: '1', BATCH_SIZE: '20' }));
  });
  afterAll(async () => {
    await baton.stop();
    removeDir(dataDir);
  });

  it('answers the create at once, then shows the problems found before stubbing has finished', async () => {
    // Prepare
    const form = new FormData();
    const fields = { name: 'Big', customerId: 'acme', from: 'Acme <news@acme.example>', subject: 'Hi {{ first_name }}', mjml: TEMPLATE };
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('audience', new Blob([audience()], { type: 'text/csv' }), 'audience.csv');
    const auth = { authorization: `Bearer ${baton.apiToken}` };

    // Act
    const started = Date.now();
    const res = await fetch(`${baton.url}/api/campaigns`, { method: 'POST', headers: auth, body: form });
    const createMs = Date.now() - started;
    const created = (await res.json()) as View;
    const ref = { customerId: 'acme', campaignId: created.id };
    const call = api(baton);
    expect((await call('POST', `/api/campaigns/${created.id}/send`)).status).toBe(202);
    let early: { problems: View['problems']; reportThen: string | undefined } | undefined;
    const deadline = Date.now() + 60_000;
    while (early === undefined && Date.now() < deadline) {
      const view = (await call<View>('GET', `/api/campaigns/${created.id}`)).body;
      if (view.problems.length > 0) {
        early = { problems: view.problems, reportThen: await baton.store.get('campaigns', keys.audienceReport(ref)) };
      } else await new Promise((r) => setTimeout(r, 50));
    }
    let final: View | undefined;
    while (Date.now() < deadline + 60_000) {
      final = (await call<View>('GET', `/api/campaigns/${created.id}`)).body;
      if ((await baton.store.get('campaigns', keys.audienceReport(ref))) !== undefined && final.counts.total === ROWS) break;
      await new Promise((r) => setTimeout(r, 200));
    }

    // Assess
    expect(res.status).toBe(201);
    expect(created.counts.total ?? 0).toBe(0); // nothing of the rows was read to answer
    expect(createMs).toBeLessThan(5_000);
    expect(early).toBeDefined();
    expect(early!.reportThen).toBeUndefined(); // seen while the stubber was still at work
    expect(early!.problems[0]).toMatchObject({ line: BAD_EVERY + 1, kind: 'invalid' });
    expect(final!.problems.slice(0, early!.problems.length)).toEqual(early!.problems);
    expect(final!.problems).toHaveLength(ROWS / BAD_EVERY);
    expect(final!.counts.invalid).toBe(ROWS / BAD_EVERY);
  }, 150_000);
});
