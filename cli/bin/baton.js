#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx), so `npx baton` works right after `npm ci`.
require('tsx/cjs');
require('../src/main.ts');
