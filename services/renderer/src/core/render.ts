import { performance } from 'node:perf_hooks';
import {
  Ledger,
  PermanentError,
  describeError,
  isBatonError,
  keys,
  parseJson,
  parseKey,
  parseWith,
  silentLogger,
  stubRecord,
  systemClock,
  type Buckets,
  type Clock,
  type Logger,
  type ObjectStore,
  type RecipientRef,
  type StubRecord,
} from '@baton/shared';
import { checkPublicUrl, renderMessage, type TemplateCache } from '@baton/templating';
import { loadCampaignDefinition } from './campaign';

export interface RenderDeps {
  store: ObjectStore;
  buckets: Buckets;
  /** Built once per container and shared by every invocation. */
  templates: TemplateCache;
  /** Base of the unsubscribe link, e.g. `https://baton.example.com`. */
  publicUrl: string;
  /** Signs the unsubscribe link (BATON_UNSUBSCRIBE_SECRET). */
  unsubscribeSecret: string;
  logger?: Logger;
  /** For the time on failure outcomes. */
  clock?: Clock;
  /** Milliseconds for `ownMs` (monotonic); `performance.now` by default. */
  stopwatch?: () => number;
}

export type RenderResult = (
  | { status: 'rendered'; key: string }
  | { status: 'failed'; reason: string }
  /** No stub under that key (deleted, or an event for something else): nothing to do. */
  | { status: 'missing' }
) & {
  /**
   * The thread's time this render's own synchronous work took: reading the stub, merging it,
   * serialising and handing the result to the store. Not the waits for the store and the
   * template, in which other work runs: a scheduler sharing one thread among campaigns (the
   * local composition's renders) charges each campaign what its renders really held the thread.
   */
  ownMs: number;
};

/**
 * Renders one stub into the rendered bucket.
 *
 * A recipient that cannot be rendered (a Liquid runtime error, an invalid template, a corrupt
 * stub: any permanent error) gets a `failed` outcome in the ledger instead, so it is accounted
 * for and the rest of the campaign goes on. Anything else (the store failing) is thrown for the
 * runtime to retry. Safe to run twice: the output is deterministic and a plain put, and an
 * existing outcome is never overwritten.
 */
export async function renderStub(deps: RenderDeps, stubKey: string): Promise<RenderResult> {
  const { store, buckets } = deps;
  const publicUrl = checkPublicUrl(deps.publicUrl); // configuration: never a per-recipient failure
  const ref = parseKey.stub(stubKey);
  const log = (deps.logger ?? silentLogger).child({ customerId: ref.customerId, campaignId: ref.campaignId, recipientId: ref.recipientId });

  const body = await store.get(buckets.stubs, stubKey);
  if (body === undefined) {
    log.warn({ event: 'render.stub-missing' });
    return { status: 'missing', ownMs: 0 };
  }

  let compiled;
  try {
    compiled = await deps.templates.get(ref, async () => {
      const definition = await loadCampaignDefinition(store, buckets, ref);
      return { from: definition.from, subject: definition.subject, mjml: definition.mjml };
    });
  } catch (err) {
    return failed(deps, ref, err, 0, log);
  }
  // From here to the store's write, one synchronous stretch: its time is this render's own.
  const stopwatch = deps.stopwatch ?? performance.now.bind(performance);
  const started = stopwatch();
  const key = keys.rendered(ref);
  let writing: Promise<void>;
  try {
    const rendered = renderMessage(compiled, readStub(body, ref), { publicUrl, unsubscribeSecret: deps.unsubscribeSecret });
    writing = store.put(buckets.rendered, key, JSON.stringify(rendered), { contentType: 'application/json' });
  } catch (err) {
    return failed(deps, ref, err, stopwatch() - started, log);
  }
  const ownMs = stopwatch() - started;
  await writing;
  log.debug({ event: 'render.done' });
  return { status: 'rendered', key, ownMs };
}

/** A permanent error is this recipient's failed outcome; anything else (the store failing) is thrown for a retry. */
async function failed(deps: RenderDeps, ref: RecipientRef, err: unknown, ownMs: number, log: Logger): Promise<RenderResult> {
  if (!(isBatonError(err) && err.kind === 'permanent')) throw err;
  const reason = describeError(err);
  await recordFailure(deps, ref, reason);
  log.warn({ event: 'render.failed', code: err.code, reason });
  return { status: 'failed', reason, ownMs };
}

function readStub(body: string, ref: RecipientRef): StubRecord {
  const stub = parseWith(stubRecord, parseJson(body, 'stub'), 'STUB_INVALID', 'stub');
  if (stub.customerId !== ref.customerId || stub.campaignId !== ref.campaignId || stub.recipientId !== ref.recipientId) {
    throw new PermanentError('STUB_MISMATCH', `the stub's ids do not match its key ${keys.stub(ref)}`);
  }
  return stub;
}

/** A conditional create: if the recipient already has an outcome, the first one stands. */
async function recordFailure(deps: RenderDeps, ref: RecipientRef, reason: string): Promise<void> {
  const ledger = new Ledger({ store: deps.store, bucket: deps.buckets.campaigns, clock: deps.clock ?? systemClock });
  await ledger.recordOutcome(ref, { status: 'failed', reason: `render failed: ${reason}` }, 'if-absent');
}
