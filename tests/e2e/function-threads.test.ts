import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished } from './helpers';

/**
 * The stubber and the renderer run in worker threads of their own, each with its own store on the
 * data folder: on the LMDB store (one environment, opened by the conductor's thread and each
 * function thread) a campaign goes through whole, every recipient once.
 */
it('sends through the function threads on the LMDB store', async () => {
  const { baton, dataDir } = await startBaton({ BATON_STORE: 'lmdb' });
  try {
    const call = api(baton);
    const csv = 'email,first_name\n' + Array.from({ length: 300 }, (_, i) => `l${i}@example.com,L${i}`).join('\n') + '\nbad,B\n';
    const created = await call<{ id: string }>('POST', '/api/campaigns', {
      name: 'L',
      customerId: 'acme',
      from: 'A <a@acme.example>',
      subject: 'Hi',
      mjml: TEMPLATE,
      audienceCsv: csv,
    });
    await call('POST', `/api/campaigns/${created.body.id}/send`);
    const done = await waitUntilFinished(baton, created.body.id, 90_000);
    expect(done.counts.sent).toBe(300);
    expect(done.counts.invalid).toBe(1);
    expect(baton.sink!.messages()).toHaveLength(300);
  } finally {
    // Also when the wait fails: a Baton left running keeps jest (and its CPU) alive after the suite.
    await baton.stop();
    removeDir(dataDir);
  }
}, 120_000);
