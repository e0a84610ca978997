import type { LocalBaton } from '../../local/src/compose';
import { TEMPLATE, api, removeDir, startBaton, type View } from './helpers';

/**
 * "09:00 where each recipient is", through the local composition: a recipient whose local time
 * has come is sent, one whose local time is still ahead is not, and a zone that cannot be read
 * falls back to the campaign's and is named by line.
 */
describe("sending at a local time in each recipient's own zone, end to end", () => {
  let baton: LocalBaton;
  let dataDir: string;

  beforeAll(async () => {
    ({ baton, dataDir } = await startBaton({ PER_MINUTE_MAX: '600', MAX_WORKERS: '2', BATCH_SIZE: '10' }));
  });
  afterAll(async () => {
    await baton.stop();
    removeDir(dataDir);
  });

  it('sends those whose local time has come, holds those for whom it is still ahead, and names the zone it could not read', async () => {
    // Prepare: the local time is half an hour ago in UTC, so half an hour ahead one zone west (UTC-1).
    const then = new Date(Date.now() - 30 * 60_000);
    const localSend = { date: then.toISOString().slice(0, 10), time: then.toISOString().slice(11, 16), timeZone: 'UTC', column: 'tz' };
    const csv = [
      'email,first_name,tz',
      'utc@example.com,Una,UTC',
      'west@example.com,Wes,Etc/GMT+1',
      'nowhere@example.com,Nia,Atlantis/Lost',
    ].join('\n');
    const call = api(baton);
    // Act
    const created = await call<View>('POST', '/api/campaigns', {
      name: 'Local 09:00',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Hello {{ first_name }}',
      mjml: TEMPLATE,
      audienceCsv: csv,
      localSend,
    });
    expect(created.status).toBe(201);
    expect((await call('POST', `/api/campaigns/${created.body.id}/send`)).status).toBe(202);
    const to = () =>
      baton
        .sink!.messages()
        .filter((m) => m.variables['campaign-id'] === created.body.id)
        .map((m) => m.to)
        .sort();
    const deadline = Date.now() + 20_000;
    while (to().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1_500)); // time for anything wrongly released to go out too
    // Assess
    expect(to()).toEqual(['nowhere@example.com', 'utc@example.com']);
    const view = (
      await call<View & { problems: { line: number; kind: string; reason: string }[] }>('GET', `/api/campaigns/${created.body.id}`)
    ).body;
    expect(view.status).toBe('sending');
    expect(view.problems).toContainEqual({
      line: 4,
      kind: 'timezone',
      reason: `unknown time zone "Atlantis/Lost": sent at ${localSend.time} UTC`,
    });
  });
});
