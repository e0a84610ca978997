#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx), so `npx baton` works right after `npm ci`.
// `main` is called here rather than detected inside main.ts: through npm's `.bin/baton` link
// neither `require.main` nor `process.argv[1]` names main.ts or baton.js.
require('tsx/cjs');
require('../src/main.ts')
  .main(process.argv.slice(2))
  .then((code) => process.exit(code));
