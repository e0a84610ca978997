import type { FastifyInstance } from 'fastify';
import { ManualClock, silentLogger } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { createPiscinaRenderPool } from '../../src/adapters/piscina-render-pool';
import { Conductor } from '../../src/core/conductor';
import type { RenderPool } from '../../src/core/ports';
import { buildApp, type AppOptions } from '../../src/http/app';
import { createMetrics } from '../../src/http/metrics';
import { buckets, testGovernors, testSettings } from '../fixtures';

/** The campaign API's token in these tests, and its header. */
export const TOKEN = 'api-token-0123456789abcdef';
export const auth = { authorization: `Bearer ${TOKEN}` };

export interface AppOnLoopback {
  url: string;
  store: MemoryObjectStore;
  app: FastifyInstance;
  pool: RenderPool;
  conductor: Conductor;
}

/**
 * The real app on loopback for the HTTP tests: a conductor over `store` (a new memory store by
 * default) at 2026-11-21 12:00 UTC, with a real render pool of one thread; `options` are the
 * app's own (small body limits, the expensive-request bound). Close `app` and `pool` after.
 */
export async function startApp(
  store = new MemoryObjectStore(),
  options: Pick<AppOptions, 'bodyLimits' | 'expensivePerToken' | 'uploadBytesPerSecond' | 'bodyIdleMs'> = {},
): Promise<AppOnLoopback> {
  const pool = createPiscinaRenderPool({ threads: 1 });
  const conductor = new Conductor({
    store,
    buckets,
    clock: new ManualClock(Date.UTC(2026, 10, 21, 12)),
    logger: silentLogger,
    governors: testGovernors(600),
    invoker: { invoke: async () => {} },
    topic: { publish: async () => {} },
    renderPool: pool,
    settings: testSettings(),
  });
  await conductor.start();
  const app = await buildApp({
    conductor,
    registry: createMetrics().registry,
    apiToken: TOKEN,
    leaseToken: 'lease-token-0123456789',
    logger: silentLogger,
    ...options,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, store, app, pool, conductor };
}
