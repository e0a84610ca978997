import type { FastifyInstance } from 'fastify';
import type { Cap, Stage } from '@baton/shared';

/** What the console needs to know about this conductor before it shows anything: `GET /api/setup`. */
export interface SetupView {
  stage: Stage;
  /** The configured sending domains, the default first. */
  sendingDomains: string[];
  /** Customers the conductor knows: those with campaigns, and those with a weight or cap of their own. */
  customers?: string[];
  /** The default domain's cap, stated as everywhere else (`describeCap`). */
  cap: Cap;
  /** Each sending domain's cap (they may differ: SENDING_DOMAINS). */
  caps: Record<string, Cap>;
  /** The one-machine composition with its built-in Mailgun sink: the console may offer its local inbox. */
  local: boolean;
}

export function setupRoute(api: FastifyInstance, setup: () => SetupView): void {
  api.get('/setup', async () => setup());
}
