import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { FsObjectStore } from '../../src/object-store/fs-object-store';
import { MemoryObjectStore } from '../../src/object-store/memory-object-store';

/** Segments over an alphabet where file, folder and sibling names sort in awkward ways ('-' < '.' < '/' < '0'). */
const segment = fc
  .string({ unit: fc.constantFrom('a', 'b', '-', '.', '0'), minLength: 1, maxLength: 3 })
  .filter((s) => s !== '.' && s !== '..');
const key = fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'));

describe('FsObjectStore listing', () => {
  it('pages through keys exactly as S3 (and the memory store) would, for any prefix, start and page size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(key, { minLength: 1, maxLength: 40 }),
        fc.string({ unit: fc.constantFrom('a', 'b', '-', '/'), maxLength: 3 }),
        fc.integer({ min: 1, max: 7 }),
        async (keys, prefix, limit) => {
          const root = await fs.mkdtemp(path.join(os.tmpdir(), 'baton-list-'));
          try {
            const disk = new FsObjectStore(root);
            const memory = new MemoryObjectStore();
            for (const k of keys) {
              await disk.put('bkt', k, 'x');
              await memory.put('bkt', k, 'x');
            }
            let startAfter: string | undefined;
            for (let pages = 0; pages < 50; pages++) {
              const [a, b] = await Promise.all([
                disk.list('bkt', prefix, { startAfter, limit }),
                memory.list('bkt', prefix, { startAfter, limit }),
              ]);
              expect(a).toEqual(b);
              if (a.nextStartAfter === undefined) return;
              startAfter = a.nextStartAfter;
            }
          } finally {
            await fs.rm(root, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
