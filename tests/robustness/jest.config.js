/**
 * The timing half of the robustness suite (`npm run test:robustness`): its own jest run, one file
 * at a time, because `/healthz` latency measured while `npm test` runs other suites on the same 2
 * cores says nothing about the conductor (with no hostile request at all its p95 reached 140 ms
 * there). The rest of tests/robustness (reproductions, and the fuzz, bundle and route tests beside
 * their modules) is part of `npm test`.
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/tests/robustness'],
  testMatch: ['**/*.load.ts'],
  transform: { '^.+\\.(ts|js)$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  transformIgnorePatterns: ['/node_modules/(?!cookie/)'],
  testTimeout: 180_000,
  maxWorkers: 1,
};
