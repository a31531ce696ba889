// The harness's shared state lives on the test's global under one well-known symbol, never in a
// module singleton: the runner may load the environment and the test file's import of the same
// package as different module instances (Vitest's environment loader, its vm pools, Jest's
// sandbox), and the environment's teardown must see every cluster a test started.
import type { Cluster, ClusterOptions, Peer, PeerOptions } from '../index.js';
import { killEveryPeer } from '../peer/spawn.js';
import { outsideTests } from '../peer/test-scope.js';
import type { RunnerDeadline } from '../runner-deadline.js';
import type { PeerClusterOptions } from './options.js';

export const HARNESS_KEY: unique symbol = Symbol.for('peer-cluster') as any;

/** A cluster that `usePeers` started (or is starting) and has not stopped yet. */
export interface TrackedCluster {
  /** How the test asked for it, for messages: `usePeers(3)`. */
  readonly label: string;
  cluster: Cluster | undefined;
  /** The cluster while its peers boot (before `cluster` is set): what stops it early. */
  booting?: Cluster;
  /** Settles when `startCluster` does; the cluster is tracked from the moment it is asked for. */
  starting: Promise<unknown> | undefined;
  /** Set when its scope ended while it was still starting: stop it the moment it is up. */
  abandoned: boolean;
}

export interface HarnessState {
  /** `environmentOptions['peer-cluster']` (Vitest) or `testEnvironmentOptions['peer-cluster']` (Jest). */
  options: PeerClusterOptions | undefined;
  /** The project root `apps` resolve from, when the environment knows it. */
  root: string | undefined;
  /**
   * `options` were set: by the environment's setup, or by a plugin from the runner's config for a
   * file that runs in another environment. A fresh state on a global no environment set up has not.
   */
  configured?: boolean;
  /**
   * Checks `options` against the project root, for an environment whose setup was given none
   * (Vitest's): called once the root is known, so that a bad relative `root` is named as the
   * environment options' mistake.
   */
  checkRoot?: ((root: string) => void) | undefined;
  readonly clusters: Set<TrackedCluster>;
  /** The runner's main process is gone: clusters are killed, not stopped gracefully. */
  runnerGone?: boolean;
  /**
   * Set by an environment whose harness lives outside the test's realm (Jest): the package's
   * `usePeers` shim calls it with the test's own hooks.
   */
  usePeers?: (
    count: number | undefined,
    options: PeerClusterOptions | undefined,
    hooks: RunnerHooks,
  ) => Cluster;
  /** Set by the same environments: core's error classes, which that shim re-exports. */
  errors?: typeof import('../public-errors.js');
  /**
   * The runner's timeout for the test or hook running now, where the environment knows it
   * (Jest's): a cluster's stop there kills its peers before that timeout fails the test or hook
   * (runner-deadline.ts).
   */
  runnerDeadline?: () => RunnerDeadline | undefined;
  /**
   * The signal the runner aborts when it gives up on the test running now, where the environment
   * can get it (Vitest's, the test's `context.signal`): a cluster's stop under way then kills its
   * peers, and says why (runner-deadline.ts).
   */
  runnerSignal?: () => AbortSignal | undefined;
  /**
   * Set by an environment whose harness lives outside the test's realm (Jest): core's
   * startCluster and spawnPeer, which the package re-exports, so that a test file uses this one
   * copy of core (with its one registry connection) rather than loading its own into its sandbox
   * (and so that CommonJS test files, which cannot require core, have them). See coreFunctions.
   */
  core?: CoreFunctions;
}

/** What an environment hands its test files of core itself (HarnessState.core). */
export interface CoreFunctions {
  startCluster(options?: ClusterOptions): Promise<Cluster>;
  spawnPeer(options?: PeerOptions): Promise<Peer>;
}

/**
 * core's startCluster and spawnPeer, loaded on their first call, outside the test that calls them
 * (core's modules, once evaluated, would keep that test's async context for the process's life).
 */
export function coreFunctions(): CoreFunctions {
  const core = () => outsideTests(() => import('../index.js'));
  return {
    startCluster: async (options) => (await core()).startCluster(options),
    spawnPeer: async (options) => (await core()).spawnPeer(options),
  };
}

/** The runner's suite hooks, as the test file sees them. */
export interface RunnerHooks {
  beforeAll(fn: () => Promise<void>, timeout?: number): unknown;
  afterAll(fn: () => Promise<void>, timeout?: number): unknown;
}

/** The state on `global`, created on first use. */
export function harnessState(global: object = globalThis): HarnessState {
  const holder = global as { [HARNESS_KEY]?: HarnessState };
  let state = holder[HARNESS_KEY];
  if (!state) {
    state = { options: undefined, root: undefined, clusters: new Set() };
    // Not enumerable: runners copy or print enumerable globals.
    Object.defineProperty(holder, HARNESS_KEY, { value: state, configurable: true, writable: true });
  }
  return state;
}

/** Put an existing state on another global (a vm context) so both realms share it. */
export function shareHarnessState(global: object, state: HarnessState): void {
  Object.defineProperty(global, HARNESS_KEY, { value: state, configurable: true, writable: true });
}

/**
 * Stop every cluster still tracked: what an environment's teardown calls, so a suite whose
 * afterAll never ran (a timeout, a bail, a hook that threw) leaves nothing behind. Clusters still
 * starting are stopped as soon as they are up. Resolves with the errors, never rejects.
 */
export async function stopTrackedClusters(state: HarnessState): Promise<Error[]> {
  const errors: Error[] = [];
  const tracked = [...state.clusters];
  await Promise.all(
    tracked.map(async (entry) => {
      entry.abandoned = true;
      try {
        // A cluster still booting is stopped now, not once its boot is over (its boot timeout,
        // for apps that never finish starting): its boot then fails, and nothing is left.
        if (!entry.cluster) await entry.booting?.stop();
        await entry.starting;
        await entry.cluster?.stop();
      } catch (error) {
        // A cluster that failed to start was already reported by its beforeAll.
        if (entry.cluster) errors.push(error instanceof Error ? error : new Error(String(error)));
      } finally {
        state.clusters.delete(entry);
      }
    }),
  );
  return errors;
}

/**
 * The run was cancelled (a bail): clusters still booting are stopped now, so that the hooks
 * waiting for them fail at once instead of at their boot timeout. Clusters that are up stay up
 * for the tests still running; their scopes stop them.
 */
export function stopBootingClusters(state: HarnessState): void {
  for (const entry of state.clusters) {
    if (entry.cluster || !entry.booting) continue;
    entry.abandoned = true;
    entry.booting.stop().catch(() => {});
  }
}

/**
 * The runner is gone: SIGKILL every peer of every tracked cluster now, and every other peer this
 * process started (a cluster still booting, a restart under way), and start none from now on.
 */
export function killTrackedClusters(state: HarnessState): void {
  state.runnerGone = true;
  for (const entry of state.clusters) {
    entry.abandoned = true;
    if (entry.cluster) killCluster(entry.cluster);
  }
  killEveryPeer("the test runner's main process is gone");
}

export function killCluster(cluster: Cluster): void {
  for (const peer of cluster.peers) {
    // The signal is sent synchronously; the promise only waits for the reaping.
    peer.kill('SIGKILL').catch(() => {});
  }
}

/**
 * A runner worker that is a child process (Vitest's forks, Jest's workers) loses its IPC channel
 * when the runner's main process dies (SIGKILL, SIGINT, a bail that exits). Jest's workers do not
 * exit then, and the peers' pipes would keep a worker whose test hangs alive forever, so the
 * peers are killed the moment the channel goes. Returns how to stop watching.
 */
export function killClustersWhenRunnerDies(state: HarnessState): () => void {
  if (typeof process.send !== 'function') return () => {};
  const onDisconnect = () => killTrackedClusters(state);
  process.once('disconnect', onDisconnect);
  return () => process.off('disconnect', onDisconnect);
}
