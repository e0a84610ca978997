import { audienceOf, createAndSend, removeDir, startBaton, waitUntilFinished } from './helpers';

/**
 * The stubber and the renderer run in worker threads of their own, each with its own store on the
 * data folder: on the LMDB store (one environment, opened by the conductor's thread and each
 * function thread) a campaign goes through whole, every recipient once.
 */
it('sends through the function threads on the LMDB store', async () => {
  const { baton, dataDir } = await startBaton({ BATON_STORE: 'lmdb' });
  try {
    const id = await createAndSend(baton, 'L', audienceOf(300, 'l') + 'bad,B\n');
    const done = await waitUntilFinished(baton, id, 90_000);
    expect(done.counts.sent).toBe(300);
    expect(done.counts.invalid).toBe(1);
    expect(baton.sink!.messages()).toHaveLength(300);
  } finally {
    // Also when the wait fails: a Baton left running keeps jest (and its CPU) alive after the suite.
    await baton.stop();
    removeDir(dataDir);
  }
}, 120_000);
