// usePeers: one cluster per scope. The cluster is started in the enclosing scope's beforeAll and
// stopped in its afterAll — per-suite cleanup hangs on that afterAll, not on the environment's
// teardown, because a runner may set an environment up once for many files (Vitest with
// `isolate: false`). The environment's teardown only stops what an afterAll did not get to.
import { InvalidOptionsError } from '../errors.js';
import type { Cluster } from '../index.js';
import { resolveClusterOptions as validateClusterOptions } from '../options.js';
import type { TestScope } from '../peer/test-scope.js';
import { formatFailureReports } from './failure-report.js';
import { createClusterHandle, MisplacedUsePeersError } from './handle.js';
import { checkRelativeRoot, type PeerClusterOptions, resolveClusterOptions } from './options.js';
import type { HarnessState, RunnerHooks } from './state.js';
import { hookTimeouts, startTracked, stopTracked, trackCluster } from './tracked.js';

/** What a runner plugin gives the harness. */
export interface HarnessAdapter extends RunnerHooks {
  /** The shared state: environment options and the clusters to stop at teardown. */
  state(): HarnessState;
  /** The runner's project root, where `apps` resolve from unless `root` is given. */
  projectRoot(): string;
  /**
   * For each test of the scope being collected, call `report(testStart, scope)` when the test
   * fails and show the text with the test's failure; `scope` is the test's, when the plugin ran it
   * in one (withTestScope). Absent when the environment attaches reports
   * itself (Jest's `handleTestEvent`).
   */
  onTestFailed?(report: (since: number, scope?: TestScope) => string | undefined): void;
  /** Added to the error for a handle used after its afterAll, e.g. how the runner orders afterAll hooks. */
  stoppedHint?: string;
  /** The name of the test running now, if one is (usePeers cannot be called there). */
  runningTest?(): string | undefined;
  /** The kind of hook running now (`'afterEach'`), if one is and the runner tells. */
  runningHook?(): string | undefined;
  /**
   * Whether the runner is still collecting the test file (running its describe callbacks), when
   * it can tell: the error for a handle used too early then says where it was used.
   */
  collecting?(): boolean | undefined;
  /**
   * Why the scope whose beforeAll runs now needs no cluster, if it does not: Jest runs a describe
   * block's hooks when all its tests are todo. Vitest skips such a block's hooks itself.
   */
  scopeNeedsNoCluster?(): string | undefined;
}

export type UsePeers = (count?: number, options?: PeerClusterOptions) => Cluster;

export function createUsePeers(adapter: HarnessAdapter): UsePeers {
  return function usePeers(count?: number, options?: PeerClusterOptions): Cluster {
    if (count !== undefined && options?.count !== undefined)
      throw new InvalidOptionsError(
        'count',
        options.count,
        `is given twice, as usePeers' first argument (${count}) and in its options`,
        'Keep one: usePeers(count, options).',
      );
    const label = `usePeers(${count ?? ''})`;
    const test = adapter.runningTest?.();
    if (test !== undefined) throw new MisplacedUsePeersError(label, test);
    // In a hook (collection is over), the runner would take the hooks and never run them.
    if (adapter.collecting?.() === false)
      throw new MisplacedUsePeersError(label, undefined, adapter.runningHook?.());
    const state = adapter.state();
    // Checked now, so that a bad option is an error at this call, in the test file, rather than in
    // a beforeAll whose stack is all the harness's. (startCluster checks them again.)
    const projectRoot = state.root ?? adapter.projectRoot();
    if (typeof options === 'object' && options !== null) checkRelativeRoot(options.root, projectRoot);
    validateClusterOptions(
      resolveClusterOptions({ count, environment: state.options, suite: options, projectRoot }),
    );
    const { handle, provision, retire, fail, skip } = createClusterHandle(
      label,
      adapter.stoppedHint,
      adapter.collecting && (() => adapter.collecting?.()),
    );
    const entry = trackCluster(label);
    const timeouts = hookTimeouts(state, options);

    adapter.beforeAll(async () => {
      const needsNone = adapter.scopeNeedsNoCluster?.();
      if (needsNone !== undefined) {
        skip(needsNone);
        return;
      }
      try {
        const cluster = await startTracked(state, entry, {
          label,
          count,
          options,
          projectRoot: adapter.projectRoot(),
        });
        if (cluster) provision(cluster);
      } catch (error) {
        fail(error);
        throw error;
      }
    }, timeouts.beforeAll);

    adapter.afterAll(async () => {
      retire();
      await stopTracked(state, entry);
    }, timeouts.afterAll);

    adapter.onTestFailed?.((since, scope) => {
      if (!entry.cluster || entry.abandoned) return undefined;
      return formatFailureReports([entry.cluster], { since, scope });
    });

    return handle;
  };
}

/** The report for every cluster a state tracks: what an environment attaches on a failed test. */
export function trackedFailureReport(
  state: HarnessState,
  since: number,
  scope?: TestScope,
): string | undefined {
  const clusters: Cluster[] = [];
  for (const entry of state.clusters) if (entry.cluster && !entry.abandoned) clusters.push(entry.cluster);
  return formatFailureReports(clusters, { since, scope });
}
