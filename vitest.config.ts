import { defineConfig } from 'vitest/config';

// The repository's own tests: real processes, real sockets. They import the built packages
// (`npm test` builds first), so what is tested is what is shipped.
export default defineConfig({
  test: {
    include: [
      'test/**/*.test.ts',
      'core/test/**/*.test.ts',
      'strategies/*/test/**/*.test.ts',
      'plugin-*/test/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/fixtures/**', '.e2e/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['./test-support/global-setup.ts'],
    setupFiles: ['./test-support/worker-guard.ts'],
  },
});
