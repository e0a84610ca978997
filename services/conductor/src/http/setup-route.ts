import type { FastifyInstance } from 'fastify';
import type { SetupView } from '@baton/shared';

/** `GET /api/setup`: what the console needs to know about this conductor before it shows anything. */
export type { SetupView };

export function setupRoute(api: FastifyInstance, setup: () => SetupView): void {
  api.get('/setup', async () => setup());
}
