import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'peer-cluster',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
