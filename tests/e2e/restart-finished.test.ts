import { keys, type RecipientRow, type RecipientsPage } from '@baton/shared';
import { LOCAL_BUCKETS, type LocalBaton } from '../../local/src/compose';
import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

/**
 * Finished campaigns read back the same after a restart, on the real local composition: a done
 * campaign with recipients in doubt (the sink dropped their answers after taking the message)
 * and a cancelled one show the same status, counts and recipient lists — the in-doubt list
 * above all — after a stop and a start on the same data folder, and again after a second restart
 * with the done campaign's summary gone (rebuilt from the ledger).
 */

const ENV = {
  PER_MINUTE_MAX: '200',
  GOVERNOR_WINDOW_MS: '1000',
  GOVERNOR_MARGIN_MS: '100',
  MAX_WORKERS: '2',
  BATCH_SIZE: '10',
};
const CUSTOMER = 'acme';
const ADDRESSES = Array.from({ length: 60 }, (_, i) => `reader${String(i).padStart(2, '0')}@example.com`);
const CSV = 'email,first_name,city,plan\n' + ADDRESSES.map((e, i) => `${e},R${i},Oslo,free`).join('\n') + '\nnot-an-email,X,Y,free\n';

interface ReadBack {
  status: string;
  counts: View['counts'];
  inDoubt: (string | null)[];
  all: { email: string | null; status: string }[];
}

async function readBack(baton: LocalBaton, id: string): Promise<ReadBack> {
  const call = api(baton);
  const rows = async (status?: string): Promise<RecipientRow[]> => {
    const out: RecipientRow[] = [];
    let cursor: string | null = null;
    do {
      const qs: URLSearchParams = new URLSearchParams({ limit: '17', ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
      const page: { status: number; body: RecipientsPage } = await call<RecipientsPage>('GET', `/api/campaigns/${id}/recipients?${qs}`);
      expect(page.status).toBe(200);
      out.push(...page.body.recipients);
      cursor = page.body.next;
    } while (cursor);
    return out;
  };
  const { body } = await call<View>('GET', `/api/campaigns/${id}`);
  return {
    status: body.status,
    counts: body.counts,
    inDoubt: (await rows('in-doubt')).map((r) => r.email).sort(),
    all: (await rows()).map((r) => ({ email: r.email, status: r.status })),
  };
}

describe('finished campaigns after a restart', () => {
  it('read back the same status, counts and in-doubt list, from the summary and, without it, from the ledger', async () => {
    // Prepare: one campaign done with some answers dropped (in doubt), one cancelled while scheduled.
    const first = await startBaton(ENV);
    const { dataDir } = first;
    let done: string;
    let cancelled: string;
    let dropped: string[];
    let before: ReadBack[];
    try {
      const call = api(first.baton);
      const create = async (name: string, extra: Record<string, unknown> = {}) => {
        const created = await call<View>('POST', '/api/campaigns', {
          name,
          customerId: CUSTOMER,
          from: 'Acme <news@acme.example>',
          subject: 'Hi {{ first_name }}',
          mjml: TEMPLATE,
          audienceCsv: CSV,
          ...extra,
        });
        expect(created.status).toBe(201);
        return created.body.id;
      };
      const sink = first.baton.sink!;
      sink.setEventsAvailable(false); // nothing in doubt settles meanwhile
      sink.setFaults({ seed: 5, dropAnswerShare: 0.15, dropMode: 'reset' });
      done = await create('Done with doubts');
      expect((await call('POST', `/api/campaigns/${done}/send`)).status).toBe(202);
      await waitUntilFinished(first.baton, done, 60_000);
      cancelled = await create('Cancelled', { sendAt: new Date(Date.now() + 3_600_000).toISOString() });
      for (let i = 0; (await call<View>('GET', `/api/campaigns/${cancelled}`)).body.counts.total !== ADDRESSES.length + 1; i++) {
        if (i > 600) throw new Error('the scheduled campaign never read its audience');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect((await call('POST', `/api/campaigns/${cancelled}/cancel`)).status).toBeLessThan(300);
      await waitUntilFinished(first.baton, cancelled, 30_000);
      dropped = sink
        .calls()
        .filter((c) => c.outcome === 'dropped')
        .map((c) => c.to)
        .sort();
      before = [await readBack(first.baton, done), await readBack(first.baton, cancelled)];
    } finally {
      await first.baton.stop();
    }

    try {
      // Act: restart; then restart again with the done campaign's summary gone.
      const second = await startBaton(ENV, dataDir);
      let afterRestart: ReadBack[];
      try {
        afterRestart = [await readBack(second.baton, done), await readBack(second.baton, cancelled)];
        await second.baton.store.delete(LOCAL_BUCKETS.campaigns, keys.summary({ customerId: CUSTOMER, campaignId: done }));
      } finally {
        await second.baton.stop();
      }
      const third = await startBaton(ENV, dataDir);
      let withoutSummary: ReadBack[];
      try {
        withoutSummary = [await readBack(third.baton, done), await readBack(third.baton, cancelled)];
      } finally {
        await third.baton.stop();
      }

      // Assess: the in-doubt list is exactly the dropped answers, before and after each restart.
      const [doneBefore, cancelledBefore] = before;
      expect(dropped.length).toBeGreaterThan(0);
      expect(doneBefore).toMatchObject({ status: 'done', inDoubt: dropped });
      expect(doneBefore!.counts).toMatchObject({
        total: ADDRESSES.length + 1,
        inDoubt: dropped.length,
        sent: ADDRESSES.length - dropped.length,
      });
      expect(cancelledBefore!.status).toBe('cancelled');
      expect(cancelledBefore!.counts).toMatchObject({ total: ADDRESSES.length + 1, cancelled: ADDRESSES.length, invalid: 1 });
      expect(afterRestart).toEqual(before);
      expect(withoutSummary).toEqual(before);
    } finally {
      removeDir(dataDir);
    }
  });
});
