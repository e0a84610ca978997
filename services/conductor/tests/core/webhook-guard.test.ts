import { ManualClock, WEBHOOK_TOKENS_PREFIX, signMailgunWebhook, silentLogger } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { WebhookGuard, WebhookRejectedError } from '../../src/core/webhook-guard';

const KEY = 'webhook-signing-key-for-tests';
const START = Date.UTC(2030, 0, 1, 12, 0, 0);
const MAX_AGE_MS = 600_000;

function setUp({ signingKey }: { signingKey: string | undefined } = { signingKey: KEY }) {
  const store = new MemoryObjectStore();
  const clock = new ManualClock(START);
  const guard = () => new WebhookGuard({ store, bucket: 'campaigns', clock, logger: silentLogger, signingKey, maxAgeMs: MAX_AGE_MS });
  return { store, clock, guard };
}

function signed(at: number, token = `tok-${at}-${Math.random()}`, key = KEY) {
  const timestamp = String(Math.floor(at / 1000));
  return { timestamp, token, signature: signMailgunWebhook(key, timestamp, token) };
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; status: number }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookRejectedError);
    return { code: (err as WebhookRejectedError).code, status: (err as WebhookRejectedError).status };
  }
  throw new Error('expected a rejection');
}

describe('WebhookGuard', () => {
  it('admits a signature made with the signing key, upper- or lower-case hex', async () => {
    // Prepare
    const { guard } = setUp();
    const sig = signed(START);

    // Act
    const admitted = await guard().admit({ ...sig, signature: sig.signature.toUpperCase() });

    // Assess
    expect(typeof admitted.remember).toBe('function');
  });

  it('refuses another key, a changed token or a changed timestamp with 401', async () => {
    // Prepare
    const { guard } = setUp();
    const sig = signed(START);

    // Act
    const answers = await Promise.all([
      rejection(guard().admit(signed(START, 'x', 'another-key-entirely'))),
      rejection(guard().admit({ ...sig, token: `${sig.token}x` })),
      rejection(guard().admit({ ...sig, timestamp: String(Number(sig.timestamp) + 1) })),
    ]);

    // Assess
    expect(answers).toEqual(Array(3).fill({ code: 'WEBHOOK_SIGNATURE_INVALID', status: 401 }));
  });

  it('refuses a timestamp further than the window from now, in either direction', async () => {
    // Prepare
    const { guard } = setUp();

    // Act
    const old = await rejection(guard().admit(signed(START - MAX_AGE_MS - 1000)));
    const future = await rejection(guard().admit(signed(START + MAX_AGE_MS + 1000)));
    const edge = await guard().admit(signed(START - MAX_AGE_MS + 1000));

    // Assess
    expect([old, future]).toEqual(Array(2).fill({ code: 'WEBHOOK_STALE', status: 401 }));
    expect(edge).toBeDefined();
  });

  it('refuses a token once its event was handled, with 406, even after a restart (a new guard over the same store)', async () => {
    // Prepare
    const { guard } = setUp();
    const sig = signed(START);
    const notYet = await guard().admit(sig);
    const stillFine = await guard().admit(sig); // not remembered until handled: a failed handling can come again

    // Act
    await notYet.remember();
    await stillFine.remember();
    const replay = await rejection(guard().admit(sig));

    // Assess
    expect(replay).toEqual({ code: 'WEBHOOK_REPLAYED', status: 406 });
  });

  it('answers 503 when no signing key is configured', async () => {
    // Prepare
    const { guard } = setUp({ signingKey: undefined });

    // Act
    const answer = await rejection(guard().admit(signed(START)));

    // Assess
    expect(answer).toEqual({ code: 'WEBHOOK_NOT_CONFIGURED', status: 503 });
  });

  it('forgets tokens once they are stale for good, a whole window at a time, and keeps the recent ones', async () => {
    // Prepare: tokens in three windows
    const { store, clock, guard } = setUp();
    const g = guard();
    for (const at of [START, START + MAX_AGE_MS, START + 2 * MAX_AGE_MS]) {
      clock.set(at);
      await (await g.admit(signed(at))).remember();
      await g.settled();
    }

    // Act: far enough on that only the last window can still hold fresh tokens
    clock.set(START + 3 * MAX_AGE_MS + 1);
    await (await g.admit(signed(clock.now()))).remember();
    await g.settled();

    // Assess
    const left = (await store.list('campaigns', WEBHOOK_TOKENS_PREFIX)).keys;
    const windows = [...new Set(left.map((k) => k.split('/')[2]))];
    expect(windows).toHaveLength(2);
    expect(left).toHaveLength(2);
  });
});
