import { PermanentError, keys, parseKey, stubRecord, audienceReport } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { stubCampaign } from '../../src/core/stubber';
import { buckets, caught, keysIn, ref, seedCampaign } from '../fixtures';

const csv = [
  'email,First Name',
  'ann@example.com,Ann',
  'bob@example.com,Bob',
  ' ANN@example.com ,Ann again',
  'not-an-address,Nobody',
  'cat@example.com,"Cat, the ""Great"""',
].join('\n');

describe('stubCampaign', () => {
  it('writes one stub per valid, unique recipient', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await seedCampaign(store, { csv });

    // Act
    await stubCampaign({ store, buckets }, ref);

    // Assess
    const stubKeys = keysIn(store, buckets.stubs);
    expect(stubKeys).toHaveLength(3);
    const stubs = await Promise.all(stubKeys.map(async (key) => stubRecord.parse(JSON.parse((await store.get(buckets.stubs, key))!))));
    expect(stubs.map((s) => [s.email, s.fields.first_name, s.line]).sort()).toEqual([
      ['ann@example.com', 'Ann', 2],
      ['bob@example.com', 'Bob', 3],
      ['cat@example.com', 'Cat, the "Great"', 6],
    ]);
    for (const [i, key] of stubKeys.entries()) {
      expect(parseKey.stub(key)).toEqual({ ...ref, recipientId: stubs[i]!.recipientId });
    }
  });

  it('writes a report whose counts add up to the rows, last', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await seedCampaign(store, { csv });

    // Act
    const report = await stubCampaign({ store, buckets }, ref);

    // Assess
    expect(report).toMatchObject({ rows: 5, valid: 3, invalid: 1, duplicate: 1 });
    expect(report.valid + report.invalid + report.duplicate).toBe(report.rows);
    const stored = audienceReport.parse(JSON.parse((await store.get(buckets.campaigns, keys.audienceReport(ref)))!));
    expect(stored).toEqual(report);
    const puts = store.calls.filter((c) => c.op === 'put');
    expect(puts[puts.length - 1]).toEqual({ op: 'put', bucket: buckets.campaigns, key: keys.audienceReport(ref) });
  });

  it('writes nothing new when re-run after a crash that left the stubs but no report', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await seedCampaign(store, { csv });
    await stubCampaign({ store, buckets }, ref);
    await store.delete(buckets.campaigns, keys.audienceReport(ref));
    const stubsBefore = keysIn(store, buckets.stubs);
    const before = new Map(store.objects);
    store.calls.length = 0;

    // Act
    const report = await stubCampaign({ store, buckets }, ref);

    // Assess
    expect(report.valid).toBe(3);
    expect(store.calls.filter((c) => c.op === 'put' && c.bucket === buckets.stubs)).toHaveLength(3); // each refused: already there
    expect(keysIn(store, buckets.stubs)).toEqual(stubsBefore);
    for (const [id, body] of before) expect(store.objects.get(id)).toBe(body);
  });

  it('returns the stored report without touching the stubs when stubbing already finished', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await seedCampaign(store, { csv });
    const first = await stubCampaign({ store, buckets }, ref);
    store.calls.length = 0;

    // Act
    const second = await stubCampaign({ store, buckets }, ref);

    // Assess
    expect(second).toEqual(first);
    expect(store.calls).toEqual([{ op: 'get', bucket: buckets.campaigns, key: keys.audienceReport(ref) }]);
  });

  it('writes every stub exactly once when two runs race', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await seedCampaign(store, { csv });

    // Act
    const [a, b] = await Promise.all([stubCampaign({ store, buckets }, ref), stubCampaign({ store, buckets }, ref)]);

    // Assess
    expect(a).toEqual(b);
    expect(keysIn(store, buckets.stubs)).toHaveLength(3);
  });

  it('never has more stub writes in flight than its concurrency', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    const rows = Array.from({ length: 100 }, (_, i) => `user${i}@example.com`);
    await seedCampaign(store, { csv: ['email', ...rows].join('\n') });
    let inFlight = 0;
    let most = 0;
    const put = store.put.bind(store);
    store.put = async (...args) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return put(...args);
    };

    // Act
    await stubCampaign({ store, buckets, concurrency: 4 }, ref);

    // Assess
    expect(keysIn(store, buckets.stubs)).toHaveLength(100);
    expect(most).toBe(4);
  });

  it("writes the first chunk's stubs before reading the rest of the audience", async () => {
    // Prepare: 200 rows of about 20 bytes, read 500 bytes at a time; the first stub write hangs.
    const store = new MemoryObjectStore();
    const rows = Array.from({ length: 200 }, (_, i) => `user${String(i).padStart(3, '0')}@example.com`);
    await seedCampaign(store, { csv: ['email', ...rows].join('\n') });
    let issued = 0;
    let release: () => void = () => undefined;
    const hanging = new Promise<void>((resolve) => (release = resolve));
    const put = store.put.bind(store);
    store.put = async (...args) => {
      if (args[0] === buckets.stubs && issued++ === 0) await hanging;
      return put(...args);
    };

    // Act
    const stubbing = stubCampaign({ store, buckets, concurrency: 1_000, chunkBytes: 500 }, ref);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const issuedWhileHanging = issued;
    release();
    const report = await stubbing;

    // Assess: only the first chunk's recipients were read while its first stub was being written.
    expect(issuedWhileHanging).toBeGreaterThan(0);
    expect(issuedWhileHanging).toBeLessThanOrEqual(25);
    expect(report).toMatchObject({ rows: 200, valid: 200 });
    expect(keysIn(store, buckets.stubs)).toHaveLength(200);
  });

  it('finds duplicates and rows split across chunks as in one read', async () => {
    // Prepare: a quoted field with a line break, and a duplicate far from its first line.
    const store = new MemoryObjectStore();
    const rows = Array.from({ length: 60 }, (_, i) => `user${i}@example.com,"Line one\nline two ${i}"`);
    await seedCampaign(store, { csv: ['email,note', ...rows, 'USER3@example.com,again'].join('\n') });

    // Act
    const report = await stubCampaign({ store, buckets, chunkBytes: 37 }, ref);

    // Assess
    expect(report).toMatchObject({ rows: 61, valid: 60, duplicate: 1 });
    expect(report.problems).toEqual([
      { line: 122, kind: 'duplicate', reason: 'duplicate of the address on line 8', email: 'USER3@example.com' },
    ]);
    const stub = stubRecord.parse(JSON.parse((await store.get(buckets.stubs, keysIn(store, buckets.stubs)[0]!))!));
    expect(stub.fields.note).toMatch(/^Line one\nline two \d+$/);
  });

  it('ends the read at a line too long to be a record once rows were read, keeping their stubs and counts that add up', async () => {
    // Prepare: 300 good rows (several chunks, stubbed and perhaps sent already), then a corrupt tail with no line break.
    const store = new MemoryObjectStore();
    const rows = Array.from({ length: 300 }, (_, i) => `user${i}@example.com,Ann`);
    await seedCampaign(store, { csv: ['email,name', ...rows, 'x'.repeat(4_500_000), 'late@example.com,Bo'].join('\n') });

    // Act: the good rows come in the first chunk and are stubbed before the long line is read on.
    const report = await stubCampaign({ store, buckets, chunkBytes: 65_536 }, ref);

    // Assess
    expect(report.error).toBeUndefined();
    expect(report).toMatchObject({ rows: 301, valid: 300, invalid: 1, duplicate: 0 });
    expect(report.problems).toEqual([
      { line: 302, kind: 'invalid', reason: expect.stringMatching(/without a line break.*; the rest of the file was not read$/) },
    ]);
    expect(keysIn(store, buckets.stubs)).toHaveLength(300);
  });

  it('still fails the whole file when the first rows cannot be read', async () => {
    // Prepare: a header, then at once a line too long to be a record: nothing was stubbed.
    const store = new MemoryObjectStore();
    await seedCampaign(store, { csv: 'email,name\n' + 'x'.repeat(4_500_000) });

    // Act
    const report = await stubCampaign({ store, buckets, chunkBytes: 65_536 }, ref);

    // Assess
    expect(report).toMatchObject({ rows: 0, valid: 0, error: { code: 'AUDIENCE_INVALID' } });
    expect(keysIn(store, buckets.stubs)).toHaveLength(0);
  });

  it('fails with CAMPAIGN_NOT_FOUND when the campaign has no definition', async () => {
    // Prepare
    const store = new MemoryObjectStore();

    // Act
    const error = await caught(() => stubCampaign({ store, buckets }, ref));

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'CAMPAIGN_NOT_FOUND', message: expect.stringContaining('acme/c-spring') });
  });

  it('reports AUDIENCE_NOT_FOUND in the audience report when the audience object is missing', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await seedCampaign(store);

    // Act
    const report = await stubCampaign({ store, buckets }, ref);

    // Assess: no retry can help, so the report says why and the campaign can end
    expect(report).toMatchObject({
      rows: 0,
      valid: 0,
      error: { code: 'AUDIENCE_NOT_FOUND', message: expect.stringContaining(keys.audience(ref)) },
    });
    expect(JSON.parse((await store.get(buckets.campaigns, keys.audienceReport(ref)))!)).toEqual(report);
  });

  it('writes no stub and reports the error when the audience has no email column', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await seedCampaign(store, { csv: 'name\nAnn\n' });

    // Act
    const report = await stubCampaign({ store, buckets }, ref);

    // Assess
    expect(keysIn(store, buckets.stubs)).toEqual([]);
    expect(report.error?.code).toBe('AUDIENCE_NO_EMAIL_COLUMN');
    expect(report.error?.message).toMatch(/email/);
  });
});
