import { audienceOf, createAndSend, removeDir, startBaton, waitUntilFinished } from './helpers';

/**
 * A worker near the end of its time budget is leaving, and the conductor starts its successor
 * while it sends its last lease (its cold start overlaps that lease on AWS). Locally the successor
 * must start then too, not wait for the leaving worker's slot: its first lease's permits are for
 * slices just ahead, and a successor queued behind its predecessor found them gone (the hostile
 * bench lost about 15% of a phase's sends at every turnover).
 */
it("starts a leaving worker's successor at once, never queued behind it", async () => {
  // Prepare: one worker at a time, each with a budget that lasts about one lease.
  const { baton, dataDir } = await startBaton({
    PER_MINUTE_MAX: '100',
    GOVERNOR_WINDOW_MS: '1000',
    GOVERNOR_MARGIN_MS: '50',
    MAX_WORKERS: '1',
    BATCH_SIZE: '40',
    WORKER_TIME_BUDGET_MS: '6000',
  });
  const recipients = 400;
  // Sampled every 5 ms: the most invocations running at once (the old room, MAX_WORKERS, queued
  // each successor behind its predecessor: never more than one).
  let mostRunning = 0;
  const watch = setInterval(() => (mostRunning = Math.max(mostRunning, baton.functions.worker.runningNow)), 5);

  try {
    // Act
    const id = await createAndSend(baton, 'Turnover', audienceOf(recipients));
    const done = await waitUntilFinished(baton, id, 60_000);

    // Assess: workers came and went, and a successor ran beside its predecessor. (An invocation
    // queues only while every slot is taken: LocalLambda starts one whenever a slot is free. With a
    // budget of about one lease a third may wait for a predecessor's return: no time bound here,
    // a loaded machine stretches any.)
    expect(done.counts.sent).toBe(recipients);
    expect(mostRunning).toBe(2);
  } finally {
    clearInterval(watch);
    await baton.stop();
    removeDir(dataDir);
  }
}, 90_000);
