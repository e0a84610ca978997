/** One jest run for every workspace; @swc/jest transpiles, `tsc` (npm run typecheck) type-checks. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/shared', '<rootDir>/services', '<rootDir>/local', '<rootDir>/cli', '<rootDir>/tests', '<rootDir>/infra'],
  testMatch: ['**/tests/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/cdk.out/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 30000,
};
