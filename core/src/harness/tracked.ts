// Starting and stopping a cluster on behalf of a test scope (usePeers, a fixture), tracked in the
// shared state from the moment it is asked for until it has stopped, so that the environment's
// teardown can stop whatever a scope left behind — even a cluster that was still booting.
import type { Cluster } from '../index.js';
import { MAX_TIMER } from '../link/options.js';
import { defaults } from '../options.js';
import { outsideTests } from '../peer/test-scope.js';
import { type PeerClusterOptions, resolveClusterOptions } from './options.js';
import { type HarnessState, killCluster, type TrackedCluster } from './state.js';

export interface ProvisionRequest {
  /** How the test asked for it, for messages: `usePeers(3)`. */
  label: string;
  count: number | undefined;
  options: PeerClusterOptions | undefined;
  /** Where `apps` resolve from when neither option set gives `root`. */
  projectRoot: string;
}

export function trackCluster(label: string): TrackedCluster {
  return { label, cluster: undefined, starting: undefined, abandoned: false };
}

/** Start the cluster; if its scope was abandoned meanwhile, stop it and resolve undefined. */
export async function startTracked(
  state: HarnessState,
  entry: TrackedCluster,
  request: ProvisionRequest,
): Promise<Cluster | undefined> {
  const options = resolveClusterOptions({
    count: request.count,
    environment: state.options,
    suite: request.options,
    projectRoot: state.root ?? request.projectRoot,
  });
  state.clusters.add(entry);
  // Loaded on first use: an environment whose tests never spawn does not pay for core's graph.
  // Outside the test's hook: the module loader keeps each module's evaluation, and its context.
  const { startClusterWith } = await outsideTests(() => import('../cluster/cluster.js'));
  const starting = startClusterWith(options, (cluster) => {
    entry.booting = cluster;
  });
  // Settles with nothing: what it resolves with (the cluster) must not outlive the cluster (stopTracked).
  entry.starting = starting.then(
    () => {},
    () => {},
  );
  let cluster: Cluster;
  try {
    cluster = await starting;
  } catch (error) {
    state.clusters.delete(entry);
    throw error;
  }
  entry.cluster = cluster;
  if (entry.abandoned) {
    // The scope ended (a hook timeout, the runner's death) while the peers were booting:
    // nothing may outlive it.
    if (state.runnerGone) killCluster(cluster);
    await stopTracked(state, entry);
    return undefined;
  }
  return cluster;
}

export async function stopTracked(state: HarnessState, entry: TrackedCluster): Promise<void> {
  entry.abandoned = true;
  const cluster = entry.cluster;
  if (!cluster) return;
  try {
    await cluster.stop();
  } finally {
    state.clusters.delete(entry);
    // Runners keep a scope's hooks, which hold this entry, until the file ends (and Vitest 4 the
    // listener the beforeAll gave its onCancel, until the worker exits: across files with
    // --no-isolate): a stopped cluster must not stay reachable from it, with its peers' logs
    // and its timeline.
    entry.cluster = undefined;
    entry.booting = undefined;
  }
}

/** Hook timeouts that fit the options: the peers' own timeouts fire first and explain themselves. */
export function hookTimeouts(state: HarnessState, options: PeerClusterOptions | undefined) {
  const known = { ...state.options, ...options };
  const boot = positive(known.bootTimeout, defaults.bootTimeout);
  const stop = positive(known.stopTimeout, defaults.stopTimeout);
  // A runner's timer past Node's longest fires at once: a bootTimeout near it would fail its hook.
  return { beforeAll: Math.min(boot + SLACK, MAX_TIMER), afterAll: Math.min(stop * 2 + SLACK, MAX_TIMER) };
}

const SLACK = 15_000;

function positive(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * What an environment calls at its setup, without awaiting it: the test process's registry
 * connection is opened (and the daemon started, when none runs) while the runner loads the test
 * file, rather than in the first usePeers' beforeAll. Never rejects: a failure is left to that
 * beforeAll, which reports it.
 */
export function connectRegistryEarly(): Promise<void> {
  return import('../registry/shared.js').then(
    async ({ sharedRegistryClient }) => {
      await sharedRegistryClient().catch(() => {});
    },
    () => {},
  );
}
