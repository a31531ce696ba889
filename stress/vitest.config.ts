import { defineConfig } from 'vitest/config';

// `npm run stress`: the long versions of the reliability tests (core/test/reliability-*.test.ts
// and the parallel suites through the real vitest CLI), the same files `npm test` runs short. Sizes come from the environment; the defaults below are
// the long version's, and any of them can be overridden (`STORM_STEPS=500 npm run stress`).
// Each test checks its own clusters for leaks (processes, sockets, leases); there is no global
// sweep of PEER_CLUSTER processes here, so a stress run never touches another run's peers.
const long: Record<string, string> = {
  PEER_CLUSTER_STRESS: '1',
  STORM_STEPS: '200',
  PARALLEL_PROCESSES: '8',
  PARALLEL_REPEAT: '20',
  REGISTRY_FAULTS: '5',
  PARALLEL_SUITES_REPEAT: '20',
};
for (const [key, value] of Object.entries(long)) process.env[key] ??= value;

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['core/test/reliability-*.test.ts', 'plugin-vitest/test/parallel-suites.test.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['./test-support/worker-guard.ts'],
    // One file at a time: each already loads the machine with many processes of its own.
    fileParallelism: false,
  },
});
