/**
 * The function thread (see function-threads.ts): the stubber and the renderer Lambdas in a worker
 * thread, with its own event loop and its own store on the data folder. Stubs it creates are told
 * to the conductor's thread as S3-shaped events over a BroadcastChannel, where they trigger the
 * renderer as the stubs bucket's notifications do on AWS.
 */
import { BroadcastChannel, workerData } from 'node:worker_threads';
import { STUBS_PREFIX, createLogger, type ObjectStore } from '@baton/shared';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';
import { createRenderHandler, createStubberHandler } from '@baton/renderer';
import { TemplateCache, loadMjml } from '@baton/templating';
import { LOCAL_BUCKETS, openLocalStore } from './local-store';
import { RenderBacklog, type FunctionTask, type FunctionThreadSetup } from './function-threads';

const setup = workerData as FunctionThreadSetup;
// At the thread's start, as the composition starts it: the first send's first render then does
// not wait for MJML (about 0.2 s built, more through tsx; templating loads it lazily elsewhere).
loadMjml();
const store = openLocalStore(setup.dataDir, setup.storeKind);
const logger = createLogger({ level: setup.logLevel, name: 'baton' });
const buckets = LOCAL_BUCKETS;
const backlog = new RenderBacklog(setup.renderBacklog);

const created = new BroadcastChannel(setup.channel);
created.unref();
store.onObjectCreated({ bucket: buckets.stubs, prefix: STUBS_PREFIX }, (event) => {
  backlog.posted();
  created.postMessage(event);
});

/** The stubber's store: a stub is written only while the renderer's backlog has room (back-pressure). */
const stubberStore: ObjectStore = {
  get: (bucket, key) => store.get(bucket, key),
  getHead: (bucket, key, maxBytes) => store.getHead(bucket, key, maxBytes),
  put: async (bucket, key, body, options) => {
    if (bucket === buckets.stubs) await backlog.belowMax();
    return store.put(bucket, key, body, options);
  },
  putStream: (bucket, key, body, options) => store.putStream(bucket, key, body, options),
  delete: (bucket, key) => store.delete(bucket, key),
  list: (bucket, prefix, options) => store.list(bucket, prefix, options),
};

const handlers = {
  stubber: createStubberHandler({ store: stubberStore, buckets, logger: logger.child({ function: 'stubber' }) }),
  renderer: createRenderHandler({
    store,
    buckets,
    templates: new TemplateCache(),
    publicUrl: setup.publicUrl,
    unsubscribeSecret: setup.unsubscribeSecret,
    logger: logger.child({ function: 'renderer' }),
  }),
};

/** Runs one invocation; answers what its handler answered (a render's `RenderSummary`, read by the fair order). */
export default function runFunction(task: FunctionTask): Promise<unknown> {
  return handlers[task.fn](task.event);
}

/** Before the thread ends: queued LMDB writes are committed (piscina calls nothing; the pool sends this task). */
export async function closeStore(): Promise<void> {
  created.close();
  if (store instanceof LmdbObjectStore) await store.close();
}
