import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.vitest.test.ts'],
    environment: 'peer-cluster',
    environmentOptions: { 'peer-cluster': { apps: ['./src/app.ts'] } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
