// Mutation testing: `npm run mutate` (`-- --concurrency 1` on a busy machine, `-- --force` to
// ignore the incremental file). Never part of `npm test`. Results and survivors: docs/benchmarks.md.
import { readFileSync } from 'node:fs';

const json = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Stryker runs the tests in a copy of the project (`.stryker-tmp/sandbox-…`) and links the
 * project's node_modules into it. npm's workspace links there (`node_modules/@baton/shared` →
 * `../../shared`) resolve to the ORIGINAL folders, so a test that reaches mutated code through
 * `@baton/…` would run the unmutated original and the mutant would seem to survive. Jest is
 * told to resolve every workspace package, and each of its subpath exports, inside the sandbox.
 */
function workspacePackagesInSandbox() {
  const map = {};
  for (const dir of json('./package.json').workspaces) {
    const pkg = json(`./${dir}/package.json`);
    for (const [subpath, target] of Object.entries(pkg.exports ?? { '.': pkg.main })) {
      if (typeof target !== 'string') throw new Error(`stryker.config.mjs: ${pkg.name} exports ${subpath} by condition; map it by hand`);
      const name = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.replace(/^\.\//, '')}`;
      map[`^${escape(name)}$`] = `<rootDir>/${dir}/${target.replace(/^\.\//, '')}`;
    }
  }
  return map;
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  packageManager: 'npm',
  plugins: ['@stryker-mutator/jest-runner'],
  mutate: [
    'services/conductor/src/core/governor.ts',
    'services/conductor/src/core/push-back-level.ts',
    'services/conductor/src/core/daily-limit.ts',
    'services/conductor/src/core/pacing.ts',
    'services/conductor/src/core/lease-stops.ts',
    'services/conductor/src/core/send-rates.ts',
    'shared/src/cap.ts',
    'services/worker/src/core/**/*.ts',
    'shared/src/ledger.ts',
  ],
  jest: {
    projectType: 'custom',
    configFile: 'jest.config.js',
    config: {
      // Only the unit tests of the mutated modules (and the governor's simulation); each mutant
      // then runs just the tests that covered it (perTest), among those related to its file.
      testMatch: [
        '<rootDir>/services/conductor/tests/core/**/*.test.ts',
        '<rootDir>/services/conductor/tests/sim/**/*.test.ts',
        '<rootDir>/services/worker/tests/core/**/*.test.ts',
        '<rootDir>/shared/tests/**/*.test.ts',
      ],
      moduleNameMapper: workspacePackagesInSandbox(),
    },
    enableFindRelatedTests: true,
  },
  coverageAnalysis: 'perTest',
  concurrency: 2,
  // A shared, busy machine: allow slow runs before calling a mutant a timeout.
  timeoutMS: 10_000,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  thresholds: { high: 90, low: 75, break: null },
};
