/**
 * The fault suite (`npm run test:faults`): its own jest run, never part of `npm test` (the root
 * config matches `**\/tests/**\/*.test.ts`; these files are `*.fault.ts`). The experiments start
 * Baton in child processes and measure wall-clock time, so they run one at a time.
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/tests/faults'],
  testMatch: ['**/*.fault.ts'],
  transform: { '^.+\\.(ts|js)$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  transformIgnorePatterns: ['/node_modules/(?!cookie/)'],
  testTimeout: 300_000,
  maxWorkers: 1,
};
