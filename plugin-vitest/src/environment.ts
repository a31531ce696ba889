// `environment: 'peer-cluster'`: Vitest's node environment plus the harness's shared state.
// It spawns no peer: peers start in the beforeAll of the scope that calls usePeers (a worker's
// start-up is capped at 60 s, and a filtered-out suite must cost nothing). It only opens the
// registry connection, so that a daemon that has to start does so while the file loads. Its
// teardown stops whatever an afterAll did not get to.
import { createRequire } from 'node:module';
import { runInContext } from 'node:vm';
import {
  connectRegistryEarly,
  type HarnessState,
  harnessState,
  killClustersWhenRunnerDies,
  stopTrackedClusters,
} from '@peer-cluster/core/harness';
import type { Environment } from 'vitest/environments';
import { FILE_COMMENT, peerClusterOptions } from './runner.js';

const vitestMajor = Number.parseInt(
  (createRequire(import.meta.url)('vitest/package.json') as { version: string }).version,
  10,
);

/**
 * The environment, as Vitest reads it. Its own `Environment` type is not in the declarations:
 * Vitest 3.2 and 4 export it from `vitest/environments`, 5 from `vitest/runtime` only, so no import
 * of it resolves for every Vitest of the peer range (the export below checks it against this one's).
 */
export interface PeerClusterEnvironment {
  name: 'peer-cluster';
  viteEnvironment: 'ssr';
  transformMode?: 'ssr';
  setup(global: any, options: Record<string, any>): Promise<{ teardown(global: any): Promise<void> }>;
  setupVM(
    options: Record<string, any>,
  ): Promise<{ getVmContext(): { [key: string]: any }; teardown(): Promise<void> }>;
}

const environment: PeerClusterEnvironment = {
  name: 'peer-cluster',
  // Vitest 4 fails every file of an environment that names no Vite environment.
  viteEnvironment: 'ssr',
  // Vitest 3 requires it; Vitest 4 warns about it on every file, so it is only set for 3.
  ...(vitestMajor < 4 ? { transformMode: 'ssr' as const } : {}),

  async setup(global, options) {
    void connectRegistryEarly();
    const node = await nodeEnvironment();
    const base = await node.setup(global, options);
    const state = harnessState(global);
    state.options = peerClusterOptions(options, undefined, FILE_COMMENT);
    state.checkRoot = checkRoot(options);
    state.runnerSignal = await testSignal();
    state.configured = true;
    const unwatch = killClustersWhenRunnerDies(state);
    return {
      async teardown(global) {
        // Still watching while the clusters stop: should the runner die meanwhile (a stop that
        // hangs), the peers are killed rather than left behind.
        try {
          await stopLeftovers(state);
        } finally {
          unwatch();
          await base.teardown(global);
        }
      },
    };
  },

  // vmThreads and vmForks: each file runs in its own vm context, whose global gets the state.
  async setupVM(options) {
    void connectRegistryEarly();
    const node = await nodeEnvironment();
    if (!node.setupVM)
      throw new Error("Vitest's node environment has no setupVM: this is a bug in peer-cluster.");
    const vm = await node.setupVM(options);
    const context = vm.getVmContext();
    const state = harnessState(runInContext('globalThis', context));
    state.options = peerClusterOptions(options, undefined, FILE_COMMENT);
    state.checkRoot = checkRoot(options);
    state.runnerSignal = await testSignal();
    state.configured = true;
    const unwatch = killClustersWhenRunnerDies(state);
    return {
      getVmContext: () => context,
      async teardown() {
        try {
          await stopLeftovers(state);
        } finally {
          unwatch();
          await vm.teardown();
        }
      },
    };
  },
};

export default environment satisfies Environment;

async function nodeEnvironment(): Promise<Environment> {
  // `vitest/runtime` has it from 4.1 on; `vitest/environments` before (4.1 warns when it is imported).
  const runtime = (await import('vitest/runtime').catch(() => undefined)) as
    | { builtinEnvironments?: Record<string, Environment> }
    | undefined;
  const builtins =
    runtime?.builtinEnvironments ??
    ((await import('vitest/environments')) as { builtinEnvironments: Record<string, Environment> })
      .builtinEnvironments;
  const node = builtins.node;
  if (!node) throw new Error('Vitest has no built-in node environment: this is a bug in peer-cluster.');
  return node;
}

type CurrentTest = () => { context?: { signal?: AbortSignal } } | undefined;

/**
 * The running test's `context.signal`, which Vitest aborts when it gives up on the test (its
 * timeout, or one of its hooks', or a cancelled run): a cluster's stop under way then kills its
 * peers and says why, rather than leave the user only "Test timed out". Vitest's current test is
 * `TestRunner.getCurrentTest()` of `vitest` from 4.1 on, and `getCurrentTest` of `vitest/suite`
 * before (which 4.1 deprecates, with a warning on import).
 */
async function testSignal(): Promise<() => AbortSignal | undefined> {
  const main = (await import('vitest').catch(() => undefined)) as
    | { TestRunner?: { getCurrentTest?: CurrentTest } }
    | undefined;
  let current: CurrentTest | undefined = main?.TestRunner?.getCurrentTest?.bind(main.TestRunner);
  if (!current) {
    const suite = (await import('vitest/suite').catch(() => undefined)) as
      | { getCurrentTest?: CurrentTest }
      | undefined;
    current = suite?.getCurrentTest;
  }
  return () => current?.()?.context?.signal;
}

/**
 * Vitest gives an environment's setup no project root (4 and 5 set up the environment before the
 * worker state that holds it exists, as do 3.2's vm pools), so a relative `root` is checked by the
 * file's first usePeers, still as the environment options' mistake.
 */
function checkRoot(options: Record<string, unknown>): (root: string) => void {
  return (root) => void peerClusterOptions(options, root, FILE_COMMENT);
}

async function stopLeftovers(state: HarnessState): Promise<void> {
  const errors = await stopTrackedClusters(state);
  if (errors.length > 0) {
    throw new AggregateError(
      errors,
      `peer-cluster: ${errors.length} cluster(s) failed to stop at environment teardown`,
    );
  }
}
