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
};
