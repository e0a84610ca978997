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
import { checkPublicUrl, renderMessage, type CompiledTemplate, type TemplateCache } from '@baton/templating';
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
   * The thread's time this render's own work took: reading the stub, merging it, serialising and
   * handing the result to the store, and compiling the campaign's template when this render was
   * the one to start it. Not its waits for the store, in which other work runs: a scheduler
   * sharing one thread among campaigns (the local composition's renders) charges each campaign
   * what its renders really held the thread.
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

  // The thread's time of this render's own work: each synchronous stretch of it, timed alone (at an
  // await other work runs), and the template's compile when this render started it.
  const stopwatch = deps.stopwatch ?? performance.now.bind(performance);
  let ownMs = 0;
  const timed = <T>(work: () => T): T => {
    const started = stopwatch();
    try {
      return work();
    } finally {
      ownMs += stopwatch() - started;
    }
  };
  const key = keys.rendered(ref);
  let writing: Promise<void>;
  try {
    const stub = timed(() => readStub(body, ref));
    const compiled = await compiledTemplate(deps, ref, (ms) => (ownMs += ms));
    writing = timed(() => {
      const rendered = renderMessage(compiled, stub, { publicUrl, unsubscribeSecret: deps.unsubscribeSecret });
      return store.put(buckets.rendered, key, JSON.stringify(rendered), { contentType: 'application/json' });
    });
  } catch (err) {
    return failed(deps, ref, err, ownMs, log);
  }
  await writing;
  log.debug({ event: 'render.done' });
  return { status: 'rendered', key, ownMs };
}

/**
 * The campaign's compiled template. When this call starts the compile (no other render has), it
 * tells `compiling` how long the compile took after the campaign's definition was loaded, counted
 * as this render's own time: MJML runs synchronously for most of it, though other work may run at
 * its few awaits, which is then counted too.
 */
async function compiledTemplate(deps: RenderDeps, ref: RecipientRef, compiling: (ms: number) => void): Promise<CompiledTemplate> {
  const stopwatch = deps.stopwatch ?? performance.now.bind(performance);
  // Set only if this call's `load` runs: a render that finds the compile cached or under way waits for it.
  let loaded: number | undefined;
  try {
    return await deps.templates.get(ref, async () => {
      const definition = await loadCampaignDefinition(deps.store, deps.buckets, ref);
      loaded = stopwatch();
      return { from: definition.from, subject: definition.subject, mjml: definition.mjml };
    });
  } finally {
    if (loaded !== undefined) compiling(stopwatch() - loaded);
  }
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
