import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@baton/shared';
import { startLocalBaton } from '../../local/src/compose';
import { api, removeDir, waitUntilFinished, type View } from './helpers';

describe('the sample campaign offered on first start', () => {
  it('delivers each of its 50 recipients exactly once when the marketer clicks Send campaign', async () => {
    // Prepare: a first start, as `npm start` does it
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-sample-'));
    const baton = await startLocalBaton({ config: loadConfig({ PORT: '0', BATON_DATA_DIR: dataDir, LOG_LEVEL: 'silent', TICK_MS: '50' }) });
    try {
      const call = api(baton);
      const { body } = await call<{ campaigns: View[] }>('GET', '/api/campaigns');
      expect(body.campaigns).toHaveLength(1);
      const sample = body.campaigns[0]!;
      expect(sample.status).toBe('draft');

      // Act
      expect((await call('POST', `/api/campaigns/${sample.id}/send`)).status).toBe(202);
      const done = await waitUntilFinished(baton, sample.id);

      // Assess
      const to = baton.sink!.messages().map((m) => m.to);
      expect(new Set(to).size).toBe(50);
      expect(to).toHaveLength(50);
      expect(to.every((a) => a.endsWith('@example.com'))).toBe(true);
      expect(done.counts).toMatchObject({ total: 50, sent: 50, failed: 0, inDoubt: 0, invalid: 0, duplicate: 0 });
      expect(baton.sink!.messages().find((m) => m.to === 'reader02@example.com')!.subject).toBe('Welcome aboard, Grace!');
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });

  it('is offered only once: a restart does not add a second sample', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-sample-'));
    try {
      for (let start = 0; start < 2; start++) {
        const baton = await startLocalBaton({ config: loadConfig({ PORT: '0', BATON_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }) });
        const { body } = await api(baton)<{ campaigns: View[] }>('GET', '/api/campaigns');
        await baton.stop();
        expect(body.campaigns).toHaveLength(1);
      }
    } finally {
      removeDir(dataDir);
    }
  });
});
