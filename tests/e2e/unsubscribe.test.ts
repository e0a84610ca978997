import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

describe('unsubscribing through the List-Unsubscribe link', () => {
  it('keeps the recipient out of every later campaign of the same customer', async () => {
    // Prepare: a first campaign delivers three messages
    const { baton, dataDir } = await startBaton();
    try {
      const call = api(baton);
      const audienceCsv = 'email,first_name\nann@example.com,Ann\nbob@example.com,Bob\ncid@example.com,Cid\n';
      const campaign = { name: 'One', customerId: 'acme', from: 'news@acme.example', subject: 'Hi', mjml: TEMPLATE, audienceCsv };
      const first = await call<View>('POST', '/api/campaigns', campaign);
      await call('POST', `/api/campaigns/${first.body.id}/send`);
      await waitUntilFinished(baton, first.body.id);
      const bobMessage = baton.sink!.messages().find((m) => m.to === 'bob@example.com')!;
      const link = new URL(bobMessage.headers['List-Unsubscribe']!.replace(/^<|>$/g, ''));

      // Act: a scanner's GET changes nothing; the one-click POST unsubscribes
      const asked = await fetch(baton.url + link.pathname);
      const done = await fetch(baton.url + link.pathname, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      const again = await fetch(baton.url + link.pathname, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      baton.sink!.clear();
      const second = await call<View>('POST', '/api/campaigns', { ...campaign, name: 'Two' });
      await call('POST', `/api/campaigns/${second.body.id}/send`);
      const view = await waitUntilFinished(baton, second.body.id);
      const list = await call<{ suppressions: { email: string; reason: string }[] }>('GET', '/api/customers/acme/suppressions');

      // Assess
      expect(link.port).toBe(new URL(baton.url).port);
      expect(asked.status).toBe(200);
      expect(await asked.text()).toContain('<form method="post">');
      expect(done.status).toBe(200);
      expect(again.status).toBe(200);
      expect(
        baton
          .sink!.messages()
          .map((m) => m.to)
          .sort(),
      ).toEqual(['ann@example.com', 'cid@example.com']);
      expect(view.counts).toMatchObject({ sent: 2, suppressed: 1 });
      expect(list.body.suppressions).toMatchObject([{ email: 'bob@example.com', reason: 'unsubscribed' }]);
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });

  it('refuses a malformed link or one for an unknown campaign', async () => {
    const { baton, dataDir } = await startBaton();
    try {
      const bad = await fetch(`${baton.url}/unsubscribe/acme/c-nope/not-a-recipient/sig`, { method: 'POST' });
      const unknown = await fetch(`${baton.url}/unsubscribe/acme/c-nope/${'a'.repeat(32)}/sig`, { method: 'POST' });
      expect(bad.status).toBe(400);
      expect(unknown.status).toBe(404);
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });
});
