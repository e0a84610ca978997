import { MAX_RENDER_BACKLOG } from '../../local/src/function-threads';
import { audienceOf, createAndSend, removeDir, startBaton, waitUntilFinished } from './helpers';

/**
 * A large audience is stubbed far faster than it is rendered: the stubber's writes wait while the
 * renderer's queue is full, so the queue (one S3 event per stub) stays near its bound instead of
 * holding the whole audience, and every recipient still goes out once.
 */
it("holds the stubber back while the renderer's queue is full", async () => {
  // Prepare
  const { baton, dataDir } = await startBaton({ PER_MINUTE_MAX: '1000000' });
  const recipients = MAX_RENDER_BACKLOG * 3;
  let mostQueued = 0;
  const watch = setInterval(() => (mostQueued = Math.max(mostQueued, baton.functions.renderer.queued)), 5);
  let done: Awaited<ReturnType<typeof waitUntilFinished>>;
  try {
    // Act
    const id = await createAndSend(baton, 'Backlog', audienceOf(recipients));
    done = await waitUntilFinished(baton, id, 150_000);
  } finally {
    // Also when the wait fails: a Baton left running keeps jest (and its CPU) alive after the suite.
    clearInterval(watch);
    await baton.stop();
    removeDir(dataDir);
  }
  // Assess: the bound, plus the stub writes already past their check (two stubbings of 64 at once).
  expect(mostQueued).toBeGreaterThan(MAX_RENDER_BACKLOG / 2);
  expect(mostQueued).toBeLessThanOrEqual(MAX_RENDER_BACKLOG + 128);
  expect(done.counts.sent).toBe(recipients);
  expect(baton.sink!.messages()).toHaveLength(recipients);
}, 180_000);
