/**
 * A function thread (see function-threads.ts): the stubber or the renderer Lambda, in a worker
 * thread of its own, with its own event loop and its own store on the data folder. Stubs it
 * creates are told to the conductor's thread as S3-shaped events over a BroadcastChannel, where
 * they trigger the renderer as the stubs bucket's notifications do on AWS.
 */
import { BroadcastChannel, workerData } from 'node:worker_threads';
import { STUBS_PREFIX, createLogger } from '@baton/shared';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';
import { createRenderHandler, createStubberHandler } from '@baton/renderer';
import { TemplateCache } from '@baton/templating';
import { LOCAL_BUCKETS, openLocalStore } from './local-store';
import type { FunctionThreadSetup } from './function-threads';

const setup = workerData as FunctionThreadSetup;
const store = openLocalStore(setup.dataDir, setup.storeKind);
const logger = createLogger({ level: setup.logLevel, name: 'baton' }).child({ function: setup.fn });
const buckets = LOCAL_BUCKETS;

const created = new BroadcastChannel(setup.channel);
created.unref();
store.onObjectCreated({ bucket: buckets.stubs, prefix: STUBS_PREFIX }, (event) => created.postMessage(event));

const handle =
  setup.fn === 'stubber'
    ? createStubberHandler({ store, buckets, logger })
    : createRenderHandler({
        store,
        buckets,
        templates: new TemplateCache(),
        publicUrl: setup.publicUrl,
        unsubscribeSecret: setup.unsubscribeSecret,
        logger,
      });

export default function runFunction(event: unknown): Promise<void> {
  return handle(event);
}

/** Before the thread ends: queued LMDB writes are committed (piscina calls nothing; the pool sends this task). */
export async function closeStore(): Promise<void> {
  created.close();
  if (store instanceof LmdbObjectStore) await store.close();
}
