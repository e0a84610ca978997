/** One jest run for every workspace; @swc/jest transpiles, `tsc` (npm run typecheck) type-checks. */
module.exports = {
  testEnvironment: 'node',
  roots: [
    '<rootDir>/shared',
    '<rootDir>/templating',
    '<rootDir>/services',
    '<rootDir>/console',
    '<rootDir>/local',
    '<rootDir>/cli',
    '<rootDir>/tests',
    '<rootDir>/infra',
  ],
  testMatch: ['**/tests/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/cdk.out/'],
  transform: { '^.+\\.(ts|js)$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // `cookie` (under fastify's inject) ships ESM only: transform it, leave the rest of node_modules alone.
  transformIgnorePatterns: ['/node_modules/(?!cookie/)'],
  testTimeout: 30000,
  // jest keeps much of every test file's modules in its process: run in one process (two cores), the
  // suite grew to 3 GB resident, and the e2e tests that came late ran in a process spending its time
  // in garbage collection (a 6,000-recipient send took 150 s instead of 25). The worker is replaced
  // once its heap (heapUsed, checked after each test file) is over this.
  workerIdleMemoryLimit: '512MB',
};
