// The fixture form, for suites that prefer `test.extend` to hooks: setup and teardown of the
// cluster live in one function, and a test only pays for peers when it names the fixture.
import type { Cluster } from '@peer-cluster/core';
import { InvalidOptionsError } from '@peer-cluster/core/errors';
import {
  failureReportError,
  formatFailureReports,
  type PeerClusterOptions,
  realNow,
  startTracked,
  stopTracked,
  trackCluster,
} from '@peer-cluster/core/harness';
import type { TestAPI, TestContext } from 'vitest';
import { attachToFailedTest, fileState, projectRoot, vitestApi } from './runner.js';

export interface PeersFixtureOptions extends PeerClusterOptions {
  /**
   * `'test'`: a fresh cluster for every test that uses the fixture. `'file'`: one cluster shared
   * by the file's tests that use it, started by the first of them.
   * @default 'test'
   */
  scope?: 'test' | 'file' | undefined;
}

type FixtureFn = (context: any, use: (cluster: Cluster) => Promise<void>) => Promise<void>;

/**
 * A test-scoped `peers` fixture to put in your own `test.extend`: each test that uses it gets a
 * fresh cluster, stopped after the test; a failed test's report shows the peers' logs and the
 * cluster timeline.
 *
 * @example
 * const test = baseTest.extend<{ peers: Cluster }>({ peers: peersFixture(3, { apps: ['./app.js'] }) });
 */
export function peersFixture(count?: number, options?: PeerClusterOptions): [FixtureFn, { scope: 'test' }] {
  const label = `peersFixture(${count ?? ''})`;
  // Vitest reads the fixtures a fixture depends on from its first parameter, which must be a
  // destructuring pattern: `task` is the test itself, not a fixture.
  const fixture: FixtureFn = async ({ task, signal, onTestFailed }: TestContext, use) => {
    const state = fileState();
    const entry = trackCluster(label);
    const since = realNow();
    // The boot runs inside the test, so the test's timeout covers it. Should the test end first
    // (a timeout, a cancelled run), nothing will ever use this cluster: it is stopped now rather
    // than left booting, or up, until the file's end, and the test's report shows its peers.
    let unfinished: string | undefined;
    const abandon = () => {
      if (entry.cluster || entry.abandoned) return;
      entry.abandoned = true;
      unfinished = unfinishedBootReport(label, entry.booting, since);
      entry.booting?.stop().catch(() => {});
    };
    signal?.addEventListener('abort', abandon, { once: true });
    onTestFailed?.(() => {
      if (unfinished) attachToFailedTest(task, failureReportError(unfinished));
    });
    let cluster: Cluster | undefined;
    try {
      cluster = await startTracked(state, entry, { label, count, options, projectRoot: projectRoot() });
    } finally {
      signal?.removeEventListener('abort', abandon);
    }
    if (!cluster) throw new Error(`${label}: the test ended while its cluster was starting.`);
    try {
      await use(cluster);
    } finally {
      // Fixtures are torn down before onTestFailed runs, so the report is taken here. (A user who
      // re-scoped this fixture to a file has no test here: createPeersTest(…, { scope: 'file' })
      // is the file-scoped form that reports.)
      if (task?.result?.state === 'fail') {
        const text = formatFailureReports([cluster], { since });
        if (text) attachToFailedTest(task, failureReportError(text));
      }
      await stopTracked(state, entry);
    }
  };
  return [fixture, { scope: 'test' }];
}

/**
 * `test` with a `peers` fixture: a cluster of `count` peers for each test that names it (or one
 * per file with `scope: 'file'`).
 *
 * @example
 * const test = createPeersTest(3, { apps: ['./app.js'] });
 * test('talks', async ({ peers }) => {
 *   expect(await peers.peer(0).nodes()).toHaveLength(2);
 * });
 */
export function createPeersTest(
  count?: number,
  options: PeersFixtureOptions = {},
): TestAPI<{ peers: Cluster }> {
  const { scope = 'test', ...clusterOptions } = options;
  if (scope !== 'test' && scope !== 'file')
    throw new InvalidOptionsError(
      'createPeersTest(count, { scope })',
      scope,
      "must be 'test' (a cluster per test that names `peers`, the default) or 'file' (one for the file)",
    );
  if (scope === 'test') {
    return vitestApi('createPeersTest()').test.extend<{ peers: Cluster }>({
      peers: peersFixture(count, clusterOptions) as any,
    });
  }
  const label = `createPeersTest(${count ?? ''}, { scope: 'file' })`;
  let current: Cluster | undefined;
  // Vitest requires a destructuring pattern even when the fixture depends on nothing.
  // biome-ignore lint/correctness/noEmptyPattern: see above
  const filePeers: FixtureFn = async ({}, use) => {
    const state = fileState();
    const entry = trackCluster(label);
    const cluster = await startTracked(state, entry, {
      label,
      count,
      options: clusterOptions,
      projectRoot: projectRoot(),
    });
    if (!cluster) throw new Error(`${label}: the file ended while its cluster was starting.`);
    current = cluster;
    try {
      await use(cluster);
    } finally {
      current = undefined;
      await stopTracked(state, entry);
    }
  };
  // A file-scoped fixture sees no test; this automatic test fixture does, and reports on the
  // file's cluster when one is up, without starting it for tests that do not use it.
  const report = async ({ task, onTestFailed }: TestContext, use: (value: undefined) => Promise<void>) => {
    const since = realNow();
    onTestFailed(() => {
      const text = current && formatFailureReports([current], { since });
      if (text) attachToFailedTest(task, failureReportError(text));
    });
    await use(undefined);
  };
  return vitestApi('createPeersTest()').test.extend<{ peers: Cluster; peersFailureReport: undefined }>({
    peers: [filePeers, { scope: 'file' }] as any,
    peersFailureReport: [report, { auto: true }] as any,
  }) as unknown as TestAPI<{ peers: Cluster }>;
}

/** The report of a test that ended while its fixture's cluster was still booting. */
function unfinishedBootReport(label: string, booting: Cluster | undefined, since: number): string {
  const note =
    `${label} was still starting its cluster when the test ended, and stopped it. A fixture's boot ` +
    "counts in the test's timeout: give the test a longer one, or use usePeers, whose beforeAll " +
    'waits for bootTimeout + 15 s.';
  const report = booting && formatFailureReports([booting], { since });
  return report ? `${report}\n\n${note}` : `peer-cluster: ${note}`;
}
