import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { AUDIENCE_HEAD_BYTES, audienceHead } from '@baton/templating';
import { readAudienceHead } from '../../src/core/audience-heads';

const BUCKET = 'campaigns';

describe("a stored audience's head", () => {
  it('is the whole file, complete, when the file is short', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await store.put(BUCKET, 'uploads/a/short.csv', 'email\nann@example.com\n');

    // Act
    const head = await readAudienceHead(store, BUCKET, 'uploads/a/short.csv');

    // Assess
    expect(head).toEqual({ head: 'email\nann@example.com\n', complete: true });
  });

  it("of a long file is cut after a line break within the head's bytes, read by a ranged read alone", async () => {
    // Prepare
    const store = new MemoryObjectStore();
    const csv = `email,name\n${Array.from({ length: 10_000 }, (_, i) => `r${i}@example.com,Zoë ${i}\n`).join('')}`;
    await store.put(BUCKET, 'uploads/a/long.csv', csv);
    store.calls.length = 0;

    // Act
    const head = await readAudienceHead(store, BUCKET, 'uploads/a/long.csv');

    // Assess: what audienceHead cuts from the whole text, and only the head was read.
    expect(head?.complete).toBe(false);
    expect(head?.head.endsWith('\n')).toBe(true);
    expect(Buffer.byteLength(head!.head)).toBeLessThanOrEqual(AUDIENCE_HEAD_BYTES);
    expect(csv.startsWith(head!.head)).toBe(true);
    expect(Buffer.byteLength(head!.head)).toBeGreaterThan(AUDIENCE_HEAD_BYTES - 40);
    expect(store.calls.map((c) => c.op)).toEqual(['getHead']);
  });

  it('of a file whose header row is longer than the head is the whole file, as audienceHead gives it', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    const header = Array.from({ length: 8_000 }, (_, i) => `column_${i}`).join(',');
    const csv = `email,${header}\nann@example.com\n`;
    await store.put(BUCKET, 'uploads/a/wide.csv', csv);

    // Act
    const head = await readAudienceHead(store, BUCKET, 'uploads/a/wide.csv');

    // Assess
    expect(head).toEqual({ head: audienceHead(csv), complete: true });
    expect(head?.head).toBe(csv);
  });

  it('is undefined when there is no such object', async () => {
    // Act
    const head = await readAudienceHead(new MemoryObjectStore(), BUCKET, 'uploads/a/none.csv');

    // Assess
    expect(head).toBeUndefined();
  });
});
