// The real jest CLI on a fixture project that installed the packed packages: CommonJS and ESM
// test files, several describes and files, a docblock's options; in workers and in band, with
// --detectOpenHandles finding nothing of ours; and in workers on each Node LTS line in use
// (NODE_LTS_RELEASES, fetched from the npm registry), where Jest, its workers and the peers all run
// on that Node.
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClustersKeptApart, expectRanOn } from '../../test-support/cluster-records.js';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { NODE_LTS_RELEASES, NODE_RELEASES, nodeRelease } from '../../test-support/node-release.js';
import { JEST, jestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await jestProject();
}, 240_000);

const runs: [string, string[], string | undefined][] = [
  ['in workers', [], undefined],
  ['in band, with --detectOpenHandles', ['--runInBand', '--detectOpenHandles'], undefined],
  ...(NODE_RELEASES
    ? NODE_LTS_RELEASES.map((version): [string, string[], string] => [
        `in workers, on Node ${version}`,
        [],
        version,
      ])
    : []),
];

describe.each(runs)('jest %s', (_label, args, nodeVersion) => {
  test('passes, and every cluster kept to itself', { timeout: 300_000 }, async () => {
    const out = project.outDir('pass');
    const inWorkers = !args.includes('--runInBand');
    const node = nodeVersion === undefined ? undefined : await nodeRelease(nodeVersion);
    // In workers: two files wait for each other with their clusters up (meetAnotherWorker), and a
    // fresh cache, or Jest runs fast files in band when an earlier run of this project timed them.
    const result = await project.run(
      [...JEST, ...args, ...(inWorkers ? [`--cacheDirectory=${join(out, 'jest-cache')}`] : [])],
      {
        env: { E2E_SUITE: 'pass', E2E_OUT: out, ...(inWorkers && { E2E_MEET: '1' }) },
        ...(node && { node }),
      },
    );
    expect(result.output).toMatch(/Tests:\s+1 todo, 14 passed, 15 total/);
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toContain('PeerClusterReport');
    if (args.includes('--detectOpenHandles')) {
      expect(result.output).not.toMatch(/open handle/i);
    }

    await expectClustersKeptApart(
      out,
      ['cjs-describes-first', 'cjs-describes-second', 'cjs-file', 'cjs-file-inner', 'docblock', 'esm'],
      { inWorkers },
    );
    expectRanOn(out, nodeVersion ?? process.versions.node);
  });
});

test("jest --detectLeaks: nothing of peer-cluster keeps a file that used a cluster, its own or usePeers'", {
  timeout: 120_000,
}, async () => {
  const result = await project.run([...JEST, '--detectLeaks', '--runInBand'], {
    env: { E2E_SUITE: 'leaks' },
  });
  expect(result.output).not.toContain('leaking memory');
  expect(result.output).toMatch(/Tests:\s+2 passed, 2 total/);
  expect(result.code, result.output).toBe(0);
});

test('a failing test shows its peers’ logs and the timeline', { timeout: 120_000 }, async () => {
  const out = project.outDir('fail');
  const result = await project.run([...JEST], { env: { E2E_SUITE: 'fail', E2E_OUT: out } });
  expect(result.code).toBe(1);
  const output = result.output;
  expect(output).toContain('Expected: "another answer"');
  // One report per failing test (an assertion, a timeout), none for the passing one.
  expect(
    output.match(/PeerClusterReport: peer-cluster: what the peers did around this failure/g),
  ).toHaveLength(2);
  expect(output).toMatch(/peer-1 \| shout: loud-marker/);
  expect(output).toMatch(/peer-1 ! complaint: loud-marker/);
  // The report is printed whole, as written: a log line that looks like a stack frame stays a
  // line of the report (Jest formats frames: it would re-indent it and show its file's code).
  expect(output).toMatch(/[+-]\d\.\d{3}s\s+peer-1 !\s{5}at syncNow \(.*:6:17\)\n/);
  expect(output).toMatch(/\n\s*\n\s*timeline \(time relative to the test's start/);
  expect(output).toMatch(/\+\d\.\d{3}s\s+kill\s+peer-2\s+SIGKILL/);
  expect(output).toMatch(/peer-2\s+crashed\s+peer-2@127\.0\.0\.1:\d+/);
  // The test that timed out: what it was waiting on, of which peer, since when, and how it stands.
  expect(output).toMatch(/waiting for \(awaited by the test process, not settled yet\):\n/);
  expect(output).toMatch(/\+\d\.\d{3}s\s+peer-1\s+call\("stuck", "timeout-marker"\)\s+for \d\.\d{3}s\n/);
  expect(output).toMatch(/\+\d\.\d{3}s\s+peer-1\s+waitForNodes\(2\)\s+for \d\.\d{3}s\s+it is linked to \[/); // A handle used by a hook that runs before usePeers' beforeAll says so (a misuse: no report).
  expect(output).toContain(
    "usePeers(1) returns a handle that is provisioned in its scope's beforeAll, which has not run yet: `cluster.peer` was read by a hook that runs before it",
  );
  expect(output).not.toContain('`cluster.peer` was read while the test file was being collected');
});

test('test.concurrent on one cluster: each report lists the calls its own test awaits, not the other’s', {
  timeout: 120_000,
}, async () => {
  const result = await project.run([...JEST], {
    env: { E2E_SUITE: 'concurrent', E2E_OUT: project.outDir('concurrent') },
  });
  const output = result.output;
  expect(output).toMatch(/Tests:\s+2 failed, 2 total/);
  // What Jest prints of a failed test: a block per error, each under the test's title.
  const failure = (name: string) =>
    output
      .split(/\n\s*● /)
      .filter((block) => block.includes(`› ${name}`))
      .join('\n');
  const waiting = (block: string) =>
    block.match(/waiting for \(awaited by the test process.*\n((?:.*\S.*\n)+)/)?.[1];
  // The first failed while the other's call, begun after its own start, was pending.
  const first = failure('fails while its own call is pending');
  expect(first).toContain('PeerClusterReport');
  expect(waiting(first)).toMatch(
    /^\s+\+\d\.\d{3}s\s+peer-1\s+call\("stuck", "own-marker"\)\s+for \d\.\d{3}s\n$/,
  );
  expect(first).not.toContain('other-marker');
  // The other timed out later: what the first left pending is not what it waited for.
  const second = failure('times out on a call of its own');
  expect(second).toContain('Exceeded timeout of 2000 ms');
  expect(second).toContain('still pending from tests that have ended: peer-1 call("stuck", "own-marker")');
  expect(waiting(second)).toMatch(
    /^\s+\+\d\.\d{3}s\s+peer-1\s+call\("stuck", "other-marker"\)\s+for \d\.\d{3}s\n$/,
  );
  expect(result.code).toBe(1);
});

test('test.concurrent: usePeers misplaced in a test names that test, whichever else runs', {
  timeout: 120_000,
}, async () => {
  const result = await project.run([...JEST], { env: { E2E_SUITE: 'misplaced' } });
  expect(result.output).toMatch(/Tests:\s+2 passed, 2 total/);
  expect(result.code, result.output).toBe(0);
});

test('usePeers misplaced in a hook names the hook, also the afterEach of a test whose beforeEach failed', {
  timeout: 120_000,
}, async () => {
  const result = await project.run([...JEST], { env: { E2E_SUITE: 'misplaced-hooks' } });
  expect(result.output).toMatch(/Tests:\s+2 failed, 2 total/);
  expect(result.output).toContain('beforeEach-marker: failed on purpose');
  // Jest starts the function of a test whose beforeEach failed, but never calls it.
  expect(result.output).toContain('usePeers(1) was called inside an afterEach hook.');
  expect(result.output).toContain('usePeers(2) was called inside a beforeEach hook.');
  expect(result.output).not.toContain('was called inside the test');
  expect(result.code).toBe(1);
});

test('jest --coverage: evaluate() runs functions that coverage instrumented', {
  timeout: 120_000,
}, async () => {
  const result = await project.run(
    [...JEST, '--coverage', '--collectCoverageFrom=coverage/probes.js', '--coverageReporters=text'],
    { env: { E2E_SUITE: 'coverage' } },
  );
  expect(result.output).toMatch(/Tests:\s+1 passed, 1 total/);
  // Measured (what ran in the peer counts into nothing there: only the module's own lines count).
  expect(result.output).toMatch(/probes\.js\s+\|/);
  expect(result.code, result.output).toBe(0);
});
