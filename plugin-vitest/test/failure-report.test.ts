// A failed test's report shows what its peers did: their recent log lines, name-prefixed, and the
// cluster timeline around the failure. A passing test in the same suite shows nothing.
import { beforeAll, expect, test } from 'vitest';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { expectConcurrentReport, VITEST_BIN, vitestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await vitestProject();
}, 240_000);

test('a failing test shows its peers’ logs and the timeline', { timeout: 120_000 }, async () => {
  const out = project.outDir('fail');
  const result = await project.run([VITEST_BIN, 'run'], { env: { E2E_SUITE: 'fail', E2E_OUT: out } });
  expect(result.code).toBe(1);
  const output = result.output;
  expect(output).toContain("expected 'the answer' to be 'another answer'");
  // One report per failing test (an assertion, a timeout), none for the passing one.
  expect(
    output.match(/PeerClusterReport: peer-cluster: what the peers did around this failure/g),
  ).toHaveLength(2);
  // The peers' own lines, prefixed with their names (stdout with |, stderr with !).
  expect(output).toMatch(/peer-1 \| shout: loud-marker/);
  expect(output).toMatch(/peer-1 ! complaint: loud-marker/);
  expect(output).toMatch(/peer-\d \| peer-\d listening on \d+/);
  // The timeline around the failure, as a table relative to the test's start.
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

test('concurrent tests on one cluster: a report lists the calls its own test awaits, not the other’s', {
  timeout: 120_000,
}, async () => {
  const out = project.outDir('concurrent');
  const result = await project.run([VITEST_BIN, 'run'], { env: { E2E_SUITE: 'concurrent', E2E_OUT: out } });
  expectConcurrentReport(result, { ownOnly: true });
});

test('a test that times out while its fixture boots: the cluster is stopped then, and the report says so', {
  timeout: 120_000,
}, async () => {
  const out = project.outDir('fixture-timeout');
  const result = await project.run([VITEST_BIN, 'run'], {
    env: { E2E_SUITE: 'fixture-timeout', E2E_OUT: out },
  });
  const output = result.output;
  expect(output).toMatch(/Tests\s+1 failed \| 1 passed \(2\)/);
  expect(output).toContain('Test timed out in 1500ms');
  expect(output).toMatch(/peer-1\s+booting\s+/);
  expect(output).toContain(
    'peersFixture(1) was still starting its cluster when the test ended, and stopped it',
  );
  expect(result.code).toBe(1);
});
