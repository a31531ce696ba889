/** @type {import('jest').Config} */
module.exports = {
  testMatch: ['<rootDir>/test/**/*.test.cjs'],
  testEnvironment: 'peer-cluster',
  testEnvironmentOptions: {
    'peer-cluster': { apps: ['./src/server.js'] },
  },
};
