/**
 * `npm run bench:fs-list -- [N…]`: how long the filesystem store takes to list one campaign's
 * N rendered keys page by page (1,000 a page), as the conductor's scan does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keys, listAll, recipientIdFor } from '../src';
import { FsObjectStore } from '../src/object-store/fs-object-store';

async function run(n: number): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-'));
  try {
    const ref = { customerId: 'acme', campaignId: 'c-bench' };
    const store = new FsObjectStore(root);
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, n - i) }, (_, j) =>
          store.put('rendered', keys.rendered({ ...ref, recipientId: recipientIdFor('acme', `r${i + j}@example.com`) }), '{}'),
        ),
      );
    }
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      const t = process.hrtime.bigint();
      let count = 0;
      for await (const _ of listAll(store, 'rendered', keys.renderedPrefix(ref))) count++;
      if (count !== n) throw new Error(`listed ${count} of ${n}`);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const best = Math.min(...times);
    console.log(`| ${n.toLocaleString('en')} | ${Math.round(best)} ms | ${((best * 1000) / n).toFixed(1)} µs |`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

(async () => {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((x) => x > 0);
  console.log('| keys | list all (best of 3) | per key |\n|---|---|---|');
  for (const n of sizes.length > 0 ? sizes : [1_000, 20_000, 100_000]) await run(n);
})();
