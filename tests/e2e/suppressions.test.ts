import { api, removeDir, startBaton } from './helpers';

interface Row {
  email: string | null;
  reason: string;
  recipientId: string;
}

describe('suppression lists per customer, over the real HTTP API', () => {
  it('adds, lists in pages and as CSV, imports a CSV, and removes only manual suppressions', async () => {
    // Prepare
    const { baton, dataDir } = await startBaton();
    try {
      const call = api(baton);
      const auth = { authorization: `Bearer ${baton.apiToken}` };

      // Act
      const added = await call('POST', '/api/customers/acme/suppressions', { email: ' Ann@Example.com ' });
      const again = await call('POST', '/api/customers/acme/suppressions', { email: 'ann@example.com' });
      const bad = await call('POST', '/api/customers/acme/suppressions', { email: 'not an address' });
      const imported = await fetch(`${baton.url}/api/customers/acme/suppressions/import`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'text/csv' },
        body: 'email,name\nbob@example.com,Bob\ncid@example.com,Cid\nnope,X\nann@example.com,Ann\nbob@example.com,again\n',
      });
      const tooLarge = await fetch(`${baton.url}/api/customers/acme/suppressions/import`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'text/csv' },
        body: `email\n${'x'.repeat(1024 * 1024)}\n`,
      });
      const otherCustomer = await call<{ suppressions: Row[] }>('GET', '/api/customers/other-co/suppressions');
      const page1 = await call<{ suppressions: Row[]; next: string | null }>('GET', '/api/customers/acme/suppressions?limit=2');
      const page2 = await call<{ suppressions: Row[]; next: string | null }>(
        'GET',
        `/api/customers/acme/suppressions?limit=2&cursor=${page1.body.next}`,
      );
      const csv = await fetch(`${baton.url}/api/customers/acme/suppressions`, { headers: { ...auth, accept: 'text/csv' } });
      const csvText = await csv.text();
      const removed = await fetch(`${baton.url}/api/customers/acme/suppressions/bob%40example.com`, { method: 'DELETE', headers: auth });
      const removedAgain = await fetch(`${baton.url}/api/customers/acme/suppressions/bob%40example.com`, {
        method: 'DELETE',
        headers: auth,
      });
      const unauthenticated = await fetch(`${baton.url}/api/customers/acme/suppressions`);
      const after = await call<{ suppressions: Row[] }>('GET', '/api/customers/acme/suppressions');

      // Assess
      expect(added.status).toBe(201);
      expect(added.body).toMatchObject({ email: 'ann@example.com', reason: 'manual', created: true });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ created: false });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ error: 'EMAIL_INVALID', issues: [{ where: 'body.email' }] });
      expect(imported.status).toBe(200);
      expect(await imported.json()).toMatchObject({ rows: 5, added: 2, alreadySuppressed: 1, invalid: 1, duplicate: 1 });
      expect(otherCustomer.body.suppressions).toEqual([]);
      expect(page1.body.suppressions).toHaveLength(2);
      expect(page2.body.suppressions).toHaveLength(1);
      expect(page2.body.next).toBeNull();
      expect([...page1.body.suppressions, ...page2.body.suppressions].map((s) => s.email).sort()).toEqual([
        'ann@example.com',
        'bob@example.com',
        'cid@example.com',
      ]);
      expect(csv.headers.get('content-type')).toContain('text/csv');
      const lines = csvText.trim().split('\r\n');
      expect(lines[0]).toBe('email,reason,at,campaign_id,detail,recipient_id');
      expect(
        lines
          .slice(1)
          .map((l) => l.split(',').slice(0, 2).join(','))
          .sort(),
      ).toEqual(['ann@example.com,manual', 'bob@example.com,manual', 'cid@example.com,manual']);
      expect(tooLarge.status).toBe(413);
      expect(await tooLarge.json()).toMatchObject({
        error: 'BODY_TOO_LARGE',
        message: expect.stringContaining('at most 1 MiB'),
        limitBytes: 1024 * 1024,
      });
      expect(removed.status).toBe(204);
      expect(removedAgain.status).toBe(404);
      expect(unauthenticated.status).toBe(401);
      expect(after.body.suppressions.map((s) => s.email).sort()).toEqual(['ann@example.com', 'cid@example.com']);
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });

  it('refuses to remove a suppression the provider or the recipient caused', async () => {
    // Prepare: a hard bounce through the sink's webhook
    const { baton, dataDir } = await startBaton();
    try {
      const call = api(baton);
      const created = await call<{ id: string }>('POST', '/api/campaigns', {
        name: 'One',
        customerId: 'acme',
        from: 'news@acme.example',
        subject: 'Hi',
        mjml: '<mjml><mj-body><mj-section><mj-column><mj-text>Hi <a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section></mj-body></mjml>',
        audienceCsv: 'email\nbounce+zed@example.com\n',
      });
      await call('POST', `/api/campaigns/${created.body.id}/send`);
      for (let i = 0; i < 200 && baton.sinkWebhooks!.posted().length === 0; i += 1) await new Promise((r) => setTimeout(r, 50));
      await baton.sinkWebhooks!.settled();

      // Act
      const refused = await fetch(`${baton.url}/api/customers/acme/suppressions/bounce%2Bzed%40example.com`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${baton.apiToken}` },
      });

      // Assess
      expect(created.body).toMatchObject({ warnings: [] });
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({ error: 'SUPPRESSION_NOT_REMOVABLE', message: expect.stringContaining('bounced') });
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });
});
