import type { LocalBaton } from '../../local/src/compose';
import { NESTED_LOOPS_MJML, SIMPLE_MJML, manyAssignTags } from '../../services/conductor/tests/robustness/hostile';
import { api, removeDir, startBaton } from '../e2e/helpers';

/**
 * Issue 9's reproductions, each as a careless or hostile API user would send it, through the
 * local composition over loopback: every one gets a clear answer, in bounded time, and never a 500.
 * (The others have their tests beside their fix: the one-click POST as multipart in
 * services/conductor/tests/http/unsubscribe-routes, test sends to a suppressed address in
 * app.test, damaged objects in core/damaged-objects, the log scrubber in shared/tests/logger,
 * the port in use and the token in qa in local/tests/main, a damaged dev secret in local/tests/dev-secrets.)
 */

const BASE = {
  name: 'Repro',
  customerId: 'acme',
  from: 'Acme <news@acme.example>',
  subject: 'Hi',
  mjml: SIMPLE_MJML,
  audienceCsv: 'email\na@example.com\n',
};

describe("issue 9's reproductions", () => {
  let baton: LocalBaton;
  let dataDir: string;
  let call: ReturnType<typeof api>;
  beforeAll(async () => {
    ({ baton, dataDir } = await startBaton());
    call = api(baton);
  });
  afterAll(async () => {
    await baton.stop();
    removeDir(dataDir);
  });

  it('answers a template of 20,000 dropped Liquid tags with a short 400 in seconds, not 27 s and 6 MB', async () => {
    const started = Date.now();
    const res = await call<{ error: string }>('POST', '/api/campaigns', { ...BASE, mjml: manyAssignTags(20_000) });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('TEMPLATE_INVALID');
    expect(JSON.stringify(res.body).length).toBeLessThan(10_000);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it.each([
    ['a comma outside quotes', 'evil@evil.com, Me <me@example.com>'],
    ['an unbalanced quote', '"Me <me@example.com>'],
    ['a C1 control in the display name', 'Me\u0085Bcc: evil@evil.com <me@example.com>'],
    ['a line separator in the display name', 'Me\u2028Bcc <me@example.com>'],
  ])('refuses a from with %s, naming from', async (_what, from) => {
    const res = await call<{ issues: { where: string }[] }>('POST', '/api/campaigns', { ...BASE, from });
    expect(res.status).toBe(400);
    expect(res.body.issues.map((i) => i.where)).toContain('from');
  });

  it('refuses 5,000 nested <div> in mj-text with 400, not a 500', async () => {
    const deep = `<mjml><mj-body><mj-section><mj-column><mj-text>${'<div>'.repeat(5_000)}x${'</div>'.repeat(5_000)}</mj-text></mj-column></mj-section></mj-body></mjml>`;
    const res = await call<{ error: string }>('POST', '/api/campaigns', { ...BASE, mjml: deep });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('TEMPLATE_INVALID');
  });

  it('previews a valid audience whose header row is longer than the 64 KiB sample', async () => {
    const columns = Array.from({ length: 7_000 }, (_, i) => `column_number_${i}`);
    const csv = `email,${columns.join(',')}\nann@example.com,${columns.map(() => 'v').join(',')}\n`;
    const created = await call<{ id: string }>('POST', '/api/campaigns', { ...BASE, audienceCsv: csv });
    expect(created.status).toBe(201);
    const preview = await call<{ html: string }>('GET', `/api/campaigns/${created.body.id}/preview`);
    expect(preview.status).toBe(200);
  });

  it('answers a preview whose nested loops run to the render limit with 422 in bounded time', async () => {
    const created = await call<{ id: string }>('POST', '/api/campaigns', { ...BASE, mjml: NESTED_LOOPS_MJML });
    expect(created.status).toBe(201);
    const started = Date.now();
    const preview = await call<{ error: string }>('GET', `/api/campaigns/${created.body.id}/preview`);
    expect(preview.status).toBe(422);
    expect(['RENDER_FAILED', 'RENDER_TIMEOUT']).toContain(preview.body.error);
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});
