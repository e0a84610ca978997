import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

/** Nested loops that run into the render limit (1 s a part): every recipient's render fails slowly. */
const SLOW_TEMPLATE = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>{% for a in (1..100000) %}{% for b in (1..100000) %}x{% endfor %}{% endfor %}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;

function audience(prefix: string, count: number): string {
  return 'email,first_name\n' + Array.from({ length: count }, (_, i) => `${prefix}${i}@example.com,R${i}`).join('\n') + '\n';
}

/** Polls until `id` has `count` rendered; returns how many of `otherId`'s renders had ended (failed) by then. */
async function untilRendered(call: ReturnType<typeof api>, id: string, count: number, otherId: string): Promise<number> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { body } = await call<View>('GET', `/api/campaigns/${id}`);
    // Read after: the other's count is at least what it was when this one was rendered.
    const other = (await call<View>('GET', `/api/campaigns/${otherId}`)).body;
    if ((body.counts.rendered ?? 0) >= count) return other.counts.failed ?? 0;
    if (Date.now() > deadline) throw new Error(`campaign ${id} has ${body.counts.rendered} of ${count} rendered after 120 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The local renderer's order (render-order.ts): one customer's campaign whose every render runs into
 * the render limit, started first, does not hold back another customer's plain campaign started
 * right after. Judged by order, not by time: the plain campaign is fully rendered before half of
 * the slow campaign's renders have ended (first come, first served: all twenty had ended before the
 * plain campaign's first), and then sends everything.
 */
it("renders a plain campaign before a slow campaign's renders started first have half ended", async () => {
  // Prepare
  const { baton, dataDir } = await startBaton({ PER_MINUTE_MAX: '1000000' });
  const call = api(baton);
  // Forty, not twenty: on a loaded machine the plain campaign's stubbing, which shares the thread and is not
  // in the fair order, lets up to a dozen slow renders by (3 on a quiet one).
  const slowRecipients = 40;
  const plainRecipients = 300;
  const slow = await call<{ id: string }>('POST', '/api/campaigns', {
    name: 'Slow',
    customerId: 'acme',
    from: 'A <a@acme.example>',
    subject: 'Loops',
    mjml: SLOW_TEMPLATE,
    audienceCsv: audience('slow', slowRecipients),
  });
  const plain = await call<{ id: string }>('POST', '/api/campaigns', {
    name: 'Plain',
    customerId: 'globex',
    from: 'G <g@globex.example>',
    subject: 'Hi',
    mjml: TEMPLATE,
    audienceCsv: audience('plain', plainRecipients),
  });
  expect([slow.status, plain.status]).toEqual([201, 201]);
  let slowEndedWhenPlainRendered: number;
  let plainDone: Awaited<ReturnType<typeof waitUntilFinished>>;
  try {
    // Act
    await call('POST', `/api/campaigns/${slow.body.id}/send`);
    await call('POST', `/api/campaigns/${plain.body.id}/send`);
    slowEndedWhenPlainRendered = await untilRendered(call, plain.body.id, plainRecipients, slow.body.id);
    plainDone = await waitUntilFinished(baton, plain.body.id, 120_000);
  } finally {
    // Also when a wait fails: a Baton left running keeps jest (and its CPU) alive after the suite.
    await baton.stop();
    removeDir(dataDir);
  }
  // Assess
  expect(plainDone.counts.sent).toBe(plainRecipients);
  expect(slowEndedWhenPlainRendered).toBeLessThan(slowRecipients / 2);
}, 180_000);
