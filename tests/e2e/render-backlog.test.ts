import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@baton/shared';
import { startLocalBaton } from '../../local/src/compose';
import { MAX_RENDER_BACKLOG } from '../../local/src/function-threads';
import { TEMPLATE, api, waitUntilFinished } from './helpers';

/**
 * A large audience is stubbed far faster than it is rendered: the stubber's writes wait while the
 * renderer's queue is full, so the queue (one S3 event per stub) stays near its bound instead of
 * holding the whole audience, and every recipient still goes out once.
 */
it("holds the stubber back while the renderer's queue is full", async () => {
  // Prepare
  const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-backlog-'));
  const config = loadConfig({ PORT: '0', BATON_DATA_DIR: dir, LOG_LEVEL: 'silent', TICK_MS: '50', PER_MINUTE_MAX: '1000000' });
  const baton = await startLocalBaton({ config, seedSample: false });
  const call = api(baton);
  const recipients = MAX_RENDER_BACKLOG * 3;
  const csv = 'email,first_name\n' + Array.from({ length: recipients }, (_, i) => `r${i}@example.com,R${i}`).join('\n') + '\n';
  let mostQueued = 0;
  const watch = setInterval(() => (mostQueued = Math.max(mostQueued, baton.functions.renderer.queued)), 5);
  let done: Awaited<ReturnType<typeof waitUntilFinished>>;
  try {
    // Act
    const created = await call<{ id: string }>('POST', '/api/campaigns', {
      name: 'Backlog',
      customerId: 'acme',
      from: 'A <a@acme.example>',
      subject: 'Hi',
      mjml: TEMPLATE,
      audienceCsv: csv,
    });
    await call('POST', `/api/campaigns/${created.body.id}/send`);
    done = await waitUntilFinished(baton, created.body.id, 150_000);
  } finally {
    // Also when the wait fails: a Baton left running keeps jest (and its CPU) alive after the suite.
    clearInterval(watch);
    await baton.stop();
  }
  // Assess: the bound, plus the stub writes already past their check (two stubbings of 64 at once).
  expect(mostQueued).toBeGreaterThan(MAX_RENDER_BACKLOG / 2);
  expect(mostQueued).toBeLessThanOrEqual(MAX_RENDER_BACKLOG + 128);
  expect(done.counts.sent).toBe(recipients);
  expect(baton.sink!.messages()).toHaveLength(recipients);
}, 180_000);
