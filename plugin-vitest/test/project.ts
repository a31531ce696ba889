// The installed Vitest fixture project, shared by the e2e test files of this folder.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { expectClustersKeptApart } from '../../test-support/cluster-records.js';
import {
  type CliResult,
  type FixtureProject,
  fixtureProject,
  VITEST_BIN,
} from '../../test-support/fixture-project.js';

export { VITEST_BIN };

const SOURCE = fileURLToPath(new URL('./fixtures/project', import.meta.url));
const PACKAGES = [
  '@peer-cluster/core',
  '@peer-cluster/strategy-local-registry',
  'vitest-environment-peer-cluster',
] as const;

/** Vitest's four pools, as `vitest run` arguments (`--no-isolate` is a fifth way to run). */
export const POOLS: [string, string[]][] = [
  ['forks (the default pool)', []],
  ['threads', ['--pool=threads']],
  ['vmThreads', ['--pool=vmThreads']],
  ['vmForks', ['--pool=vmForks']],
];

/** The project, run with the repository's Vitest (VITEST_BIN). */
export function vitestProject(): Promise<FixtureProject> {
  return fixtureProject(SOURCE, [...PACKAGES]);
}

/** The oldest Vitest the peer range admits, installed into its own copy of the project. */
export const OLDEST_VITEST = '3.2.0';

/** The same project with Vitest OLDEST_VITEST installed in it; run it with `vitestBin(project)`. */
export function oldestVitestProject(): Promise<FixtureProject> {
  return fixtureProject(SOURCE, [...PACKAGES], {
    dependencies: { vitest: OLDEST_VITEST },
    variant: 'vitest3',
  });
}

/** The newest major of the peer range, and the oldest Node it runs on (its `engines`). */
export const NEWEST_VITEST = '5.1.1';
export const NEWEST_VITEST_NODE = '22.12.0';

/** The same project with Vitest NEWEST_VITEST installed in it; run it with `vitestBin(project)` on NEWEST_VITEST_NODE. */
export function newestVitestProject(): Promise<FixtureProject> {
  return fixtureProject(SOURCE, [...PACKAGES], {
    dependencies: { vitest: NEWEST_VITEST },
    variant: 'vitest5',
  });
}

/** The Vitest CLI a project installed for itself. */
export function vitestBin(project: FixtureProject): string {
  return join(project.dir, 'node_modules', 'vitest', 'vitest.mjs');
}

/** What a run of the `pass` suite (E2E_SUITE=pass, records in `out`) must show. */
export async function expectPassRun(result: CliResult, out: string): Promise<void> {
  expect(result.output).toMatch(/Tests\s+19 passed \| 1 todo \(20\)/);
  expect(result.code, result.output).toBe(0);
  // Passing tests stay quiet.
  expect(result.output).not.toContain('PeerClusterReport');

  await expectClustersKeptApart(
    out,
    [
      'describes-first',
      'describes-second',
      'docblock',
      'file-level',
      'file-level-inner',
      'fixture-test',
      'other-environment',
    ],
    { inWorkers: true },
  );
}

/** What a run of the `fail` suite with another Vitest (`version`) must show, in short: its report. */
export function expectFailReport(result: CliResult, version: string): void {
  expect(result.code).toBe(1);
  expect(result.output).toContain(`RUN  v${version}`);
  expect(result.output).toMatch(/PeerClusterReport: peer-cluster: what the peers did around this failure/);
  expect(result.output).toMatch(/\+\d\.\d{3}s\s+kill\s+peer-2\s+SIGKILL/);
  expect(result.output).toMatch(
    /\+\d\.\d{3}s\s+peer-1\s+call\("stuck", "timeout-marker"\)\s+for \d\.\d{3}s\n/,
  );
}

/**
 * What a run of the `concurrent` suite must show: the failed test's report lists the call it
 * awaits, and, with `ownOnly`, not the other test's (begun after it, and still running then).
 * Vitest before 4.1 has no aroundEach to tell them apart: the report goes by time, and lists both.
 */
export function expectConcurrentReport(result: CliResult, { ownOnly }: { ownOnly: boolean }): void {
  const output = result.output;
  expect(output).toMatch(/Tests\s+1 failed \| 1 passed \(2\)/);
  expect(
    output.match(/PeerClusterReport: peer-cluster: what the peers did around this failure/g),
  ).toHaveLength(1);
  const waiting = output.match(
    /waiting for \(awaited by the test process, not settled yet\):\n((?:.*\S.*\n)+)/,
  )?.[1];
  expect(waiting).toMatch(/^\s+\+\d\.\d{3}s\s+peer-1\s+call\("stuck", "own-marker"\)\s+for \d\.\d{3}s\n/);
  if (ownOnly) expect(output).not.toContain('other-marker');
  else expect(waiting).toContain('"other-marker")');
  expect(result.code).toBe(1);
}
