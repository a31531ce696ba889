/** @type {import('jest').Config} */
module.exports = {
  testMatch: ['<rootDir>/test/**/*.jest.test.cjs'],
  testEnvironment: 'peer-cluster',
  testEnvironmentOptions: { 'peer-cluster': { apps: ['./src/app.ts'] } },
  testTimeout: 30_000,
};
