import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'peer-cluster',
    environmentOptions: {
      'peer-cluster': { apps: ['./src/server.js'] },
    },
  },
});
