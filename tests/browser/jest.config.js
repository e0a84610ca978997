/**
 * The browser suite (`npm run test:browser`): the real console in headless Chromium
 * (Debian's /usr/bin/chromium, or CHROMIUM_PATH) against the real local composition.
 * Screenshots of each step go to tests/browser/artifacts/ (gitignored).
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/tests/browser'],
  testMatch: ['**/*.browser.ts'],
  transform: { '^.+\\.(ts|js)$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  transformIgnorePatterns: ['/node_modules/(?!cookie/)'],
  testTimeout: 90_000,
};
